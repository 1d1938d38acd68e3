package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brisk-server/brisk/compress"
	"github.com/brisk-server/brisk/internal/testkit"
)

// selfSignedTLS returns a server configuration with a fresh self-signed
// certificate and a client configuration that trusts it.
func selfSignedTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	cert, err := SelfSigned(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Config{Certificates: []tls.Certificate{*cert}}, &tls.Config{RootCAs: pool}
}

// serveTLS serves srv over TLS on a loopback port until the test ends, and
// returns its base URL and a protocol that speaks HTTP/2 to it.
func serveTLS(t *testing.T, cfg Config) (*Server, string, protocol) {
	t.Helper()
	serverTLS, clientTLS := selfSignedTLS(t)
	cfg.TLS = serverTLS
	srv := New(cfg)
	base := strings.Replace(newLoopbackServer(t, srv), "http://", "https://", 1)
	h2 := newProtocol("h2", func(p *http.Protocols) { p.SetHTTP2(true) }, clientTLS)
	t.Cleanup(h2.client.CloseIdleConnections)
	return srv, base, h2
}

// Over TLS, ALPN picks HTTP/2 for clients that offer it and HTTP/1.1 for
// the rest, and both get the same answers, 103 Early Hints included.
func TestTLSSpeaksHTTP2AndHTTP1(t *testing.T) {
	files := testFiles()
	files["index.html"] = &fstest.MapFile{Data: append([]byte(`<head><link rel="modulepreload" href="/pkg/app.js"></head>`), testText(4000)...), ModTime: testMod}
	codings, _ := compress.NewCodings("br", compress.Fast)
	store, err := compress.Open(files, compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	store.Precompress(context.Background())
	_, base, h2 := serveTLS(t, Config{Source: store, Started: testMod.Add(time.Hour)})
	// As a browser without HTTP/2 would: offering http/1.1 by ALPN.
	h1Config := h2.client.Transport.(*http.Transport).TLSClientConfig.Clone()
	h1Config.NextProtos = []string{"http/1.1"}
	h1TLS := newProtocol("h1", func(p *http.Protocols) { p.SetHTTP1(true) }, h1Config)
	t.Cleanup(h1TLS.client.CloseIdleConnections)
	for _, target := range []string{"/", "/pkg/app_bg.wasm", "/nope.js"} {
		a, aBody, aHints := h2.send(t, "GET", base+target, "Accept-Encoding", "br")
		b, bBody, bHints := h1TLS.send(t, "GET", base+target, "Accept-Encoding", "br")
		if diff := responseDiff(a, aBody, b, bBody); diff != "" {
			t.Errorf("%s: HTTP/2 and HTTP/1.1 over TLS differ:\n%s", target, diff)
		}
		if len(aHints) != len(bHints) || (target == "/") != (len(aHints) == 1) {
			t.Errorf("%s: 103s over HTTP/2 %q, over HTTP/1.1 %q", target, aHints, bHints)
		}
		if a.TLS == nil || a.TLS.NegotiatedProtocol != "h2" || b.TLS.NegotiatedProtocol != "http/1.1" {
			t.Errorf("%s: ALPN chose %q and %q", target, a.TLS.NegotiatedProtocol, b.TLS.NegotiatedProtocol)
		}
	}
}

// A client that speaks plain HTTP to the TLS port gets a short 400 at
// once, not a connection that hangs until a timeout.
func TestPlainHTTPToTLSPort(t *testing.T) {
	_, store := newTestServer(t)
	_, base, _ := serveTLS(t, Config{Source: store})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no HTTP answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || err != nil || len(b) > 200 {
		t.Errorf("status %d, %d bytes (%v): %q", resp.StatusCode, len(b), err, b)
	}
}

// A renewed certificate is served to new connections without a restart,
// while connections already open carry on; a pair that is half replaced
// (the certificate renewed, the key not yet) keeps the last good one in
// use until the key follows.
func TestCertFilesReload(t *testing.T) {
	dir := t.TempDir()
	certs := make([]*tls.Certificate, 3)
	for i := range certs {
		var err error
		if certs[i], err = SelfSigned(nil); err != nil {
			t.Fatal(err)
		}
	}
	certFile, keyFile := testkit.WriteCertPair(t, dir, certs[0])
	var log testkit.Log
	files, err := LoadCertFiles(certFile, keyFile, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	files.checkEvery = 0 // check at every handshake
	_, store := newTestServer(t)
	srv := New(Config{Source: store, TLS: &tls.Config{GetCertificate: files.GetCertificate}})
	base := strings.Replace(newLoopbackServer(t, srv), "http://", "https://", 1)

	// The client trusts any certificate and reports which one it got.
	type seen struct {
		fingerprint string
		reused      bool
	}
	kept := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	t.Cleanup(kept.CloseIdleConnections)
	get := func(client *http.Client) seen {
		t.Helper()
		var s seen
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { s.reused = info.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+"/pkg/app.js", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d, %v", resp.StatusCode, err)
		}
		s.fingerprint = Fingerprint(&tls.Certificate{Certificate: [][]byte{resp.TLS.PeerCertificates[0].Raw}})
		return s
	}
	fresh := func() seen {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
		defer c.CloseIdleConnections()
		return get(c)
	}

	if s := get(kept); s.fingerprint != Fingerprint(certs[0]) {
		t.Fatalf("first certificate %s, want %s", s.fingerprint, Fingerprint(certs[0]))
	}
	testkit.WriteCertPair(t, dir, certs[1]) // a renewal
	if s := fresh(); s.fingerprint != Fingerprint(certs[1]) {
		t.Errorf("after the renewal, a new connection got %s, want %s", s.fingerprint, Fingerprint(certs[1]))
	}
	if s := get(kept); !s.reused || s.fingerprint != Fingerprint(certs[0]) {
		t.Errorf("the connection open before the renewal: reused %v, certificate %s", s.reused, s.fingerprint)
	}

	// Half a renewal: the new certificate beside the old key.
	cert2, _ := testkit.WriteCertPair(t, t.TempDir(), certs[2])
	data, _ := os.ReadFile(cert2)
	testkit.ReplaceFile(t, certFile, data)
	if s := fresh(); s.fingerprint != Fingerprint(certs[1]) {
		t.Errorf("with a mismatched pair on disk, got %s, want the last good %s", s.fingerprint, Fingerprint(certs[1]))
	}
	if !regexp.MustCompile(`cannot be loaded; keeping the certificate in use`).MatchString(log.String()) {
		t.Errorf("no warning about the mismatched pair; log:\n%s", log.String())
	}
	testkit.WriteCertPair(t, dir, certs[2]) // the key follows
	if s := fresh(); s.fingerprint != Fingerprint(certs[2]) {
		t.Errorf("once the key followed, got %s, want %s", s.fingerprint, Fingerprint(certs[2]))
	}
}

func TestLoadCertFilesErrors(t *testing.T) {
	dir := t.TempDir()
	a, _ := SelfSigned(nil)
	b, _ := SelfSigned(nil)
	certA, keyA := testkit.WriteCertPair(t, filepath.Join(dir), a)
	bDir := t.TempDir()
	_, keyB := testkit.WriteCertPair(t, bDir, b)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, cert, key, want string
	}{
		{"missing certificate", filepath.Join(dir, "nope.pem"), keyA, "nope.pem"},
		{"missing key", certA, filepath.Join(dir, "nope.key"), "nope.key"},
		{"not PEM", garbage, keyA, "garbage.pem"},
		{"key of another certificate", certA, keyB, "does not match"},
	} {
		_, err := LoadCertFiles(tt.cert, tt.key, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
}

// The self-signed certificate names this machine as local clients and
// phones on the LAN reach it, and its fingerprint reads as browsers show
// one.
func TestSelfSigned(t *testing.T) {
	cert, err := SelfSigned([]string{"192.168.1.23", "brisk.lan"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "192.168.1.23", "brisk.lan"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool}); err == nil {
		t.Error("valid for a host it was not made for")
	}
	if fp := Fingerprint(cert); !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("fingerprint %q", fp)
	}
	for _, a := range MachineAddresses() {
		if ip := net.ParseIP(a); ip == nil || ip.IsLoopback() {
			t.Errorf("MachineAddresses lists %q", a)
		}
	}
}
