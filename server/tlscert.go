package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// CertFiles serves the certificate and key of two PEM files and reads them
// again when they change on disk, as a renewal (certbot, a mounted secret)
// replaces them: connections open stay as they are, new ones get the new
// certificate. Files are checked at a handshake, at most once a second, so
// that a busy server does not stat them for every connection.
type CertFiles struct {
	certFile, keyFile string
	log               *slog.Logger
	checkEvery        time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	stamps  [2]fileStamp
	checked time.Time
}

// fileStamp tells whether a file changed: a rename over it or a rewrite
// changes its modification time or size.
type fileStamp struct {
	mod  time.Time
	size int64
}

// LoadCertFiles reads a certificate (with its chain) and its private key;
// the error says which file is wrong, or that they do not match.
func LoadCertFiles(certFile, keyFile string, log *slog.Logger) (*CertFiles, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &CertFiles{certFile: certFile, keyFile: keyFile, log: log, checkEvery: time.Second}
	cert, stamps, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cert, c.stamps, c.checked = cert, stamps, time.Now()
	return c, nil
}

// stampFiles says when the certificate and the key last changed.
func (c *CertFiles) stampFiles() ([2]fileStamp, error) {
	var stamps [2]fileStamp
	for i, name := range []string{c.certFile, c.keyFile} {
		info, err := os.Stat(name)
		if err != nil {
			return stamps, err
		}
		stamps[i] = fileStamp{info.ModTime(), info.Size()}
	}
	return stamps, nil
}

// load reads the pair, and the stamps it had just before.
func (c *CertFiles) load() (*tls.Certificate, [2]fileStamp, error) {
	stamps, err := c.stampFiles()
	if err != nil {
		return nil, stamps, err
	}
	var pems [2][]byte
	for i, name := range []string{c.certFile, c.keyFile} {
		if pems[i], err = os.ReadFile(name); err != nil {
			return nil, stamps, err
		}
	}
	cert, err := tls.X509KeyPair(pems[0], pems[1])
	if err != nil {
		return nil, stamps, fmt.Errorf("%s and %s: %w", c.certFile, c.keyFile, err)
	}
	return &cert, stamps, nil
}

// GetCertificate is the tls.Config hook. A pair that changed but cannot be
// loaded (a renewal half written, a key that does not match) leaves the
// certificate in use as it is, with a warning, until the files are right.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= c.checkEvery {
		c.checked = now
		c.reloadIfChanged()
	}
	return c.cert, nil
}

func (c *CertFiles) reloadIfChanged() {
	stamps, err := c.stampFiles()
	if err != nil {
		c.log.Warn("cannot check the TLS certificate files; keeping the certificate in use", "err", err)
		return
	}
	if stamps == c.stamps {
		return
	}
	cert, stamps, err := c.load()
	if err != nil {
		c.log.Warn("TLS certificate files changed but cannot be loaded; keeping the certificate in use", "err", err)
		return
	}
	c.cert, c.stamps = cert, stamps
	c.log.Info("TLS certificate reloaded", "cert", c.certFile, "sha256", Fingerprint(cert))
}

// SelfSignedHosts are the names and addresses SelfSigned(hosts) covers.
func SelfSignedHosts(hosts []string) []string {
	return append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)
}

// SelfSigned makes a certificate, in memory, for testing on this machine
// and from devices on the LAN: for localhost, 127.0.0.1, ::1 and the hosts
// given (names or addresses), valid from an hour ago for 30 days. No
// browser trusts it; it gives brisk a secure context (br, zstd, and what
// needs HTTPS) once the user accepts it, and its fingerprint tells them it
// is the one brisk printed.
func SelfSigned(hosts []string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"brisk self-signed"}, CommonName: "localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range SelfSignedHosts(hosts) {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Fingerprint is the SHA-256 of a certificate's leaf, in the colon-separated
// hex that browsers show on their certificate pages.
func Fingerprint(cert *tls.Certificate) string {
	if len(cert.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(cert.Certificate[0])
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// MachineAddresses lists this machine's unicast addresses other than
// loopback: where a phone on the LAN reaches it.
func MachineAddresses() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || n.IP.IsMulticast() || n.IP.IsUnspecified() {
			continue
		}
		out = append(out, n.IP.String())
	}
	return out
}
