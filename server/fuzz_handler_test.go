package server

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-server/brisk/compress"
)

// outsideMarker is in files the server must never send: one outside the
// root (reachable only through symlinks that leave it) and dotfiles.
const outsideMarker = "NEVER-SERVED-0xD1CE"

// fuzzSite is a root with pages, compressed assets, a not-found page,
// dotfiles and symlinks that lead out of it, served with every option
// that changes what a response holds.
func fuzzSite(t testing.TB) (*Server, []*compress.Coding) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	for name, data := range map[string]string{
		"secret.txt":            outsideMarker,
		"root/index.html":       `<html><head><link rel="modulepreload" href="/pkg/app.js"></head>` + string(testText(3000)) + `</html>`,
		"root/404.html":         "<h1>not here</h1>" + string(testText(2000)),
		"root/pkg/app.js":       string(testText(20_000)),
		"root/pkg/app_bg.wasm":  "\x00asm\x01\x00\x00\x00" + string(testText(40_000)),
		"root/.env":             outsideMarker,
		"root/pkg/.git/config":  outsideMarker,
		"root/docs/index.html":  "<p>docs</p>",
		"root/docs/.hidden.txt": outsideMarker,
	} {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"leak.txt": "../secret.txt", "up": "..", "pkg/abs": filepath.Join(base, "secret.txt")} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	codings, _ := compress.NewCodings("br,zstd,gzip", compress.Fast)
	// A small budget leaves the larger files on disk, so that requests
	// open them.
	store, err := compress.OpenDir(root, compress.Config{Codings: codings, MemoryBudget: 30_000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	store.Precompress(context.Background())
	rule, _ := ParseHeaderRule("*=Strict-Transport-Security: max-age=1")
	return New(Config{
		Source: store, NotFound: "404.html", Headers: []HeaderRule{rule}, Metrics: true,
		AccessLog: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}), codings
}

// FuzzHandler drives the whole handler, routing included, with arbitrary
// methods, targets and header blocks: whatever comes in, the answer is
// never a 500 (nor a panic), and never holds a byte of a file outside the
// root or of a dotfile, compressed or not.
func FuzzHandler(f *testing.F) {
	for _, seed := range [][3]string{
		{"GET", "/", "Accept-Encoding: br\r\n"},
		{"GET", "/pkg/app_bg.wasm", "Accept-Encoding: gzip;q=0.5, zstd, *;q=0\r\nRange: bytes=10-20\r\n"},
		{"HEAD", "/pkg/app.js", "If-None-Match: W/\"x\", *\r\nIf-Range: Sat, 01 Jan 2000 00:00:00 GMT\r\n"},
		{"GET", "/leak.txt", ""},
		{"GET", "/up/secret.txt", "Accept-Encoding: identity\r\n"},
		{"GET", "/pkg/abs", ""},
		{"GET", "/%2e%2e/secret.txt", ""},
		{"GET", "/.env", "Accept-Encoding: gzip\r\n"},
		{"GET", "/pkg/.git/config", ""},
		{"GET", "/docs", ""},
		{"GET", "/missing", "Accept: text/html\r\nAccept-Encoding: br\r\n"},
		{"POST", "/pkg/app.js", "Content-Length: 0\r\n"},
		{"GET", "/pkg/app.js", "Range: bytes=-1,0-\r\nIf-Match: *\r\n"},
		{"OPTIONS", "*", ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	srv, codings := fuzzSite(f)
	f.Fuzz(func(t *testing.T, method, target, headers string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: brisk\r\n" + headers + "\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 before any handler runs
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusNotImplemented && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%q: status %d", raw, rec.Code)
		}
		body := rec.Body.Bytes()
		if bytes.Contains(body, []byte(outsideMarker)) {
			t.Fatalf("%q: sent a file from outside the root or a dotfile", raw)
		}
		enc := rec.Header().Get("Content-Encoding")
		for _, c := range codings {
			if c.Name == enc && rec.Code == http.StatusOK {
				plain, err := c.Decode(body, 1<<20)
				if err != nil {
					t.Fatalf("%q: %s body does not decode: %v", raw, enc, err)
				}
				if bytes.Contains(plain, []byte(outsideMarker)) {
					t.Fatalf("%q: sent a file from outside the root or a dotfile, as %s", raw, enc)
				}
			}
		}
	})
}
