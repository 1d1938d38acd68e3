package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/brisk-server/brisk/internal/testkit"
	"github.com/brisk-server/brisk/server"
)

// certPair writes a fresh self-signed certificate and its key as PEM files
// in a directory of their own.
func certPair(t *testing.T) (certFile, keyFile string, cert *tls.Certificate) {
	t.Helper()
	cert, err := server.SelfSigned(nil)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = testkit.WriteCertPair(t, t.TempDir(), cert)
	return certFile, keyFile, cert
}

// A TLS command line that cannot work exits 2 with one line, before
// anything listens.
func TestTLSUsageErrors(t *testing.T) {
	certA, keyA, _ := certPair(t)
	_, keyB, _ := certPair(t)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown mode", []string{"serve", "--tls", "acme"}, nil, `--tls "acme": want self-signed`},
		{"self-signed and files", []string{"serve", "--tls", "self-signed", "--tls-cert", certA, "--tls-key", keyA}, nil, "exclude each other"},
		{"certificate without key", []string{"serve", "--tls-cert", certA}, nil, "go together"},
		{"key without certificate", []string{"serve"}, map[string]string{"BRISK_TLS_KEY": keyA}, "go together"},
		{"missing certificate", []string{"serve", "--tls-cert", "/does/not/exist.pem", "--tls-key", keyA}, nil, "/does/not/exist.pem"},
		{"not a certificate", []string{"serve", "--tls-cert", keyA, "--tls-key", keyA}, nil, "--tls-cert/--tls-key"},
		{"key of another certificate", []string{"serve"}, map[string]string{"BRISK_TLS_CERT": certA, "BRISK_TLS_KEY": keyB}, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			line := strings.TrimRight(stderr.String(), "\n")
			if !strings.Contains(line, tt.want) || strings.Contains(line, "\n") {
				t.Errorf("stderr %q: want one line mentioning %q", stderr.String(), tt.want)
			}
		})
	}
}

// tlsGet fetches url with a client that accepts any certificate and
// returns the response, with the fingerprint of the certificate brisk
// presented.
func tlsGet(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true, DisableCompression: true,
	}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	leaf := resp.TLS.PeerCertificates[0]
	return resp, server.Fingerprint(&tls.Certificate{Certificate: [][]byte{leaf.Raw}})
}

// --tls self-signed serves HTTPS, HTTP/2 by ALPN, with a certificate for
// localhost whose fingerprint brisk printed; plain HTTP on that port gets
// a 400.
func TestServeSelfSigned(t *testing.T) {
	base, log := startBrisk(t, "--tls", "self-signed")
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("serving at %s", base)
	}
	printed := log.WaitFor(t, regexp.MustCompile(`SHA-256 fingerprint\n  ([0-9A-F:]{95})\n`), 5*time.Second)[1]
	resp, fp := tlsGet(t, base+"/")
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Errorf("%s %d; want HTTP/2 200", resp.Proto, resp.StatusCode)
	}
	if fp != printed {
		t.Errorf("certificate %s, printed %s", fp, printed)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	if strings.Contains(log.String(), "from the LAN") || !strings.Contains(log.String(), "listening on loopback only") {
		t.Errorf("a loopback listener must say how to reach it from the LAN; log:\n%s", log.String())
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	plain, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || plain.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS port: %v, %v", plain, err)
	}
}

// --tls-cert and --tls-key (here from the environment) serve that
// certificate.
func TestServeCertFiles(t *testing.T) {
	certFile, keyFile, cert := certPair(t)
	t.Setenv("BRISK_TLS_CERT", certFile)
	t.Setenv("BRISK_TLS_KEY", keyFile)
	base, _ := startBrisk(t)
	resp, fp := tlsGet(t, base+"/")
	if resp.StatusCode != 200 || fp != server.Fingerprint(cert) {
		t.Errorf("status %d, certificate %s; want 200 and %s", resp.StatusCode, fp, server.Fingerprint(cert))
	}
}

// Without TLS a plain listener speaks h2c beside HTTP/1.1 unless --h2c=false.
func TestH2CFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		h2c  bool
	}{{nil, true}, {[]string{"--h2c=false"}, false}} {
		base, _ := startBrisk(t, tt.args...)
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		client := &http.Client{Transport: &http.Transport{Protocols: p}}
		resp, err := client.Get(base + "/")
		if err == nil {
			resp.Body.Close()
		}
		if got := err == nil && resp.ProtoMajor == 2; got != tt.h2c {
			t.Errorf("%v: h2c answered: %v (%v)", tt.args, got, err)
		}
		client.CloseIdleConnections()
	}
}
