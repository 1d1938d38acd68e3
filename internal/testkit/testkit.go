// Package testkit holds the helpers that tests of several packages share.
package testkit

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// ReplaceFile writes data to name the way cargo-leptos and Trunk publish a
// rebuilt file: into a hidden temporary file beside it, renamed over it,
// so that a reader sees the old bytes or the new ones, never a part.
func ReplaceFile(tb testing.TB, name string, data []byte) {
	tb.Helper()
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		tb.Fatal(err)
	}
}

// Eventually polls cond until it holds, or fails the test once within has
// passed, naming what it waited for.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RequireTool returns the path of the program name, or skips the test when
// it is not installed: on a developer's machine only. Where CI is set the
// test fails instead, because .ci/run installs every tool the tests need
// and a skipped test there would be counted as passed.
func RequireTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s is required in CI: %v", name, err)
	}
	tb.Skipf("%s not installed: %v", name, err)
	return ""
}

// Log collects the log lines of code running in other goroutines (a
// server, a background encode) safely, for a test to read while they run.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// WaitFor polls the log until pattern matches or the timeout passes, and
// returns the match and its groups.
func (l *Log) WaitFor(tb testing.TB, pattern *regexp.Regexp, timeout time.Duration) []string {
	tb.Helper()
	var m []string
	Eventually(tb, timeout, "a log line matching "+pattern.String(), func() bool {
		m = pattern.FindStringSubmatch(l.String())
		return m != nil
	})
	return m
}

// WriteCertPair writes cert's certificate and key as PEM files in dir,
// each replaced whole (ReplaceFile), as a certificate renewal does.
func WriteCertPair(tb testing.TB, dir string, cert *tls.Certificate) (certFile, keyFile string) {
	tb.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ReplaceFile(tb, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}))
	ReplaceFile(tb, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}))
	return certFile, keyFile
}

// Run runs the command name with args, stdin on its standard input, and
// returns its standard output; a failure fails the test with its stderr.
func Run(tb testing.TB, stdin []byte, name string, args ...string) []byte {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}
