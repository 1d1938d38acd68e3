package server

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/brisk-server/brisk/compress"
)

func TestNotFoundPage(t *testing.T) {
	page := append([]byte("<h1>Not here</h1>"), testText(3000)...) // large enough to compress
	codings, _ := compress.NewCodings("br,gzip", compress.Fast)
	store, err := compress.Open(fstest.MapFS{
		"index.html":      {Data: []byte("<h1>app</h1>"), ModTime: testMod},
		"404.html":        {Data: page, ModTime: testMod},
		"pkg/app_bg.wasm": {Data: []byte("\x00asm"), ModTime: testMod},
		".env":            {Data: []byte("SECRET=1")},
	}, compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	store.Precompress(context.Background())
	brPage := func() []byte {
		a, _ := store.Snapshot().Lookup("404.html")
		for _, v := range a.Variants() {
			if v.Coding == "br" {
				return repBytes(t, &v)
			}
		}
		t.Fatal("404.html has no br variant")
		return nil
	}()

	for _, tc := range []struct {
		name     string
		cfg      Config
		method   string
		target   string
		header   []string
		status   int
		wantPage []byte // nil: the plain-text error
		encoding string
	}{
		{"a missing path", Config{NotFound: "404.html"}, "GET", "/nope", nil, 404, page, ""},
		{"precompressed like any page", Config{NotFound: "404.html"}, "GET", "/nope", []string{"Accept-Encoding", "br"}, 404, brPage, "br"},
		{"a missing wasm", Config{NotFound: "404.html"}, "GET", "/pkg/other.wasm", nil, 404, page, ""},
		{"a dotfile, as if missing", Config{NotFound: "404.html"}, "GET", "/.env", nil, 404, page, ""},
		{"outside the base path", Config{NotFound: "404.html", BasePath: "/app/"}, "GET", "/elsewhere", nil, 404, page, ""},
		{"HEAD: its headers, no body", Config{NotFound: "404.html"}, "HEAD", "/nope", nil, 404, []byte{}, ""},
		{"conditionals do not apply", Config{NotFound: "404.html"}, "GET", "/nope", []string{"If-None-Match", "*"}, 404, page, ""},
		{"ranges do not apply", Config{NotFound: "404.html"}, "GET", "/nope", []string{"Range", "bytes=0-3"}, 404, page, ""},
		{"not for other methods", Config{NotFound: "404.html"}, "POST", "/nope", nil, 404, nil, ""},
		{"not for a bad path", Config{NotFound: "404.html"}, "GET", "/a/../b", nil, 400, nil, ""},
		{"a page that does not exist", Config{NotFound: "missing.html"}, "GET", "/nope", nil, 404, nil, ""},
		{"off", Config{}, "GET", "/nope", nil, 404, nil, ""},
		{"--spa answers routes with 200", Config{NotFound: "404.html", Fallback: "index.html"}, "GET", "/todos/3", nil, 200, []byte("<h1>app</h1>"), ""},
		{"--spa leaves a missing wasm to the page", Config{NotFound: "404.html", Fallback: "index.html"}, "GET", "/pkg/x.wasm", nil, 404, page, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Source = store
			resp := do(t, New(tc.cfg), tc.method, tc.target, tc.header...)
			b := body(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tc.encoding {
				t.Errorf("Content-Encoding %q, want %q", got, tc.encoding)
			}
			if tc.wantPage == nil {
				if resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
					t.Errorf("want the plain-text error, got %q: %.40q", resp.Header.Get("Content-Type"), b)
				}
				return
			}
			if string(b) != string(tc.wantPage) {
				t.Errorf("body %.40q (%d bytes), want %.40q (%d bytes)", b, len(b), tc.wantPage, len(tc.wantPage))
			}
			if tc.status == 404 {
				if resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
					t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
				}
				if resp.Header.Get("Content-Length") == "" {
					t.Error("no Content-Length")
				}
				for _, h := range []string{"Etag", "Last-Modified", "Accept-Ranges", "Content-Range"} {
					if resp.Header.Get(h) != "" {
						t.Errorf("a 404 carries %s: %q", h, resp.Header.Get(h))
					}
				}
			}
		})
	}
}
