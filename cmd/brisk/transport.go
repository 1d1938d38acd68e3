package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/brisk-server/brisk/compress"
	"github.com/brisk-server/brisk/server"
)

// transportFlags say how brisk meets its clients: HTTPS, HTTP/2 on plain
// connections, and whether it encodes what it proxies.
type transportFlags struct {
	tls, certFile, keyFile *string
	h2c, compressProxied   *bool
}

func addTransportFlags(fset *flag.FlagSet) *transportFlags {
	return &transportFlags{
		tls:             fset.String("tls", "", "`self-signed`: HTTPS with a certificate made at start, in memory, for localhost and this machine's addresses (testing on a phone on the LAN); its fingerprint is printed"),
		certFile:        fset.String("tls-cert", "", "PEM `file` with the certificate (and chain) to serve HTTPS with; read again when it changes"),
		keyFile:         fset.String("tls-key", "", "PEM `file` with the private key of --tls-cert"),
		h2c:             fset.Bool("h2c", true, "also speak HTTP/2 with prior knowledge on plain HTTP (what Fly's proxy speaks to apps with h2_backend)"),
		compressProxied: fset.Bool("compress-proxied", true, "encode what the upstream sends unencoded (HTML, JSON, events) with zstd, br or gzip (those of --encodings), as it streams"),
	}
}

// transport is what the transport flags ask for, checked: for HTTPS, a
// pair of certificate files already loaded, or a certificate to make.
type transport struct {
	certFiles            *server.CertFiles
	selfSigned           bool
	h2c, compressProxied bool
}

// resolve checks the flags and loads the certificate files, so that a
// wrong path or a key that does not match is a usage error, reported
// before anything starts.
func (f *transportFlags) resolve(log *slog.Logger) (*transport, error) {
	t := &transport{h2c: *f.h2c, compressProxied: *f.compressProxied}
	switch {
	case *f.tls != "" && *f.tls != "self-signed":
		return nil, fmt.Errorf("--tls %q: want self-signed (or --tls-cert and --tls-key)", *f.tls)
	case *f.tls != "" && (*f.certFile != "" || *f.keyFile != ""):
		return nil, errors.New("--tls self-signed and --tls-cert/--tls-key exclude each other")
	case *f.tls != "":
		t.selfSigned = true
	case (*f.certFile == "") != (*f.keyFile == ""):
		return nil, errors.New("--tls-cert and --tls-key go together")
	case *f.certFile != "":
		files, err := server.LoadCertFiles(*f.certFile, *f.keyFile, log)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		t.certFiles = files
	}
	return t, nil
}

// apply sets the server's protocols, TLS and encoding of upstream
// responses, and returns the scheme of its URLs. A self-signed certificate
// is made now, and the user told its fingerprint and where a phone on the
// LAN reaches brisk.
func (t *transport) apply(cfg *server.Config, codings []*compress.Coding, addr net.Addr, stdout io.Writer, log *slog.Logger) (scheme string, err error) {
	cfg.NoH2C = !t.h2c
	if cfg.Upstream != nil && t.compressProxied {
		cfg.StreamCodings = streamCodings(codings)
	}
	switch {
	case t.certFiles != nil:
		cfg.TLS = &tls.Config{GetCertificate: t.certFiles.GetCertificate}
	case t.selfSigned:
		lan := server.MachineAddresses()
		cert, err := server.SelfSigned(lan)
		if err != nil {
			return "", fmt.Errorf("make a self-signed certificate: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		fp := server.Fingerprint(cert)
		log.Info("TLS with a self-signed certificate", "hosts", strings.Join(server.SelfSignedHosts(lan), ","), "sha256", fp)
		fmt.Fprintf(stdout, "brisk: HTTPS with a self-signed certificate, SHA-256 fingerprint\n  %s\n", fp)
		printLANURLs(stdout, addr, lan)
	default:
		return "http", nil
	}
	return "https", nil
}

// printLANURLs says where a phone on the LAN opens brisk, or how to let it.
func printLANURLs(stdout io.Writer, addr net.Addr, lan []string) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || len(lan) == 0 {
		return
	}
	port := strconv.Itoa(tcp.Port)
	switch {
	case tcp.IP.IsLoopback():
		fmt.Fprintln(stdout, "  listening on loopback only: add --addr :"+port+" to reach it from a phone on the LAN")
		return
	case !tcp.IP.IsUnspecified():
		lan = []string{tcp.IP.String()}
	}
	for _, ip := range lan {
		fmt.Fprintf(stdout, "  from the LAN: https://%s/ (accept the warning once the fingerprint matches)\n", net.JoinHostPort(ip, port))
	}
}

// streamCodings are the codings brisk encodes upstream responses with:
// those of --encodings, zstd first (the smallest output for the time a
// server can spend on each response), then br, then gzip.
func streamCodings(codings []*compress.Coding) []*compress.StreamCoding {
	var names []string
	for _, name := range []string{"zstd", "br", "gzip"} {
		if slices.ContainsFunc(codings, func(c *compress.Coding) bool { return c.Name == name }) {
			names = append(names, name)
		}
	}
	out, err := compress.NewStreamCodings(strings.Join(names, ","))
	if err != nil {
		panic(err) // names from the list above
	}
	return out
}
