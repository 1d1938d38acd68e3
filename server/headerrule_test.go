package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/brisk-server/brisk/compress"
)

func TestParseHeaderRule(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    HeaderRule
		wantErr string
	}{
		{"*.wasm=Access-Control-Allow-Origin: *", HeaderRule{"*.wasm", "Access-Control-Allow-Origin", "*"}, ""},
		{" /*.html = content-security-policy: script-src 'self' 'wasm-unsafe-eval'; img-src https: ",
			HeaderRule{"*.html", "Content-Security-Policy", "script-src 'self' 'wasm-unsafe-eval'; img-src https:"}, ""},
		{"*=Strict-Transport-Security: max-age=63072000; includeSubDomains; preload",
			HeaderRule{"*", "Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload"}, ""},
		{"*.wasm", HeaderRule{}, "want GLOB=Name: value"},
		{"*.wasm=X-Frame-Options", HeaderRule{}, "want GLOB=Name: value"},
		{"*.wasm=X-Frame-Options:", HeaderRule{}, "want GLOB=Name: value"},
		{"[=X-A: b", HeaderRule{}, "want GLOB=Name: value"},
		{"*=Bad Name: x", HeaderRule{}, "not a header name"},
		{"*=X-A: b\r\nSet-Cookie: evil", HeaderRule{}, "control character"},
		{"*.wasm=Content-Type: text/plain", HeaderRule{}, "brisk sets Content-Type itself"},
		{"*=content-encoding: br", HeaderRule{}, "brisk sets Content-Encoding itself"},
		{"*=ETag: x", HeaderRule{}, "brisk sets Etag itself"},
		{"*=Vary: Cookie", HeaderRule{}, "brisk sets Vary itself"},
		{"*=Content-Length: 1", HeaderRule{}, "brisk sets Content-Length itself"},
		{"*=Cache-Control: no-store", HeaderRule{}, "use --cache-control"},
	} {
		got, err := ParseHeaderRule(tc.in)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want one saying %q", tc.in, err, tc.wantErr)
		case err != nil && strings.ContainsAny(err.Error(), "\r\n"):
			t.Errorf("%q: error of more than one line: %q", tc.in, err)
		}
	}
}

func TestHeaderRules(t *testing.T) {
	rules := []HeaderRule{}
	for _, r := range []string{
		"*.wasm=Access-Control-Allow-Origin: https://app.example",
		"index.html=Content-Security-Policy: script-src 'self' 'wasm-unsafe-eval'",
		"*.html=Content-Security-Policy: default-src 'none'", // index.html's rule came first
		"*=Strict-Transport-Security: max-age=63072000",
		"pkg/*=X-Robots-Tag: noindex",
		"*=Cross-Origin-Embedder-Policy: credentialless",
	} {
		rule, err := ParseHeaderRule(r)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rule)
	}
	codings, _ := compress.NewCodings("br", compress.Fast)
	store, err := compress.Open(fstest.MapFS{
		"index.html":      {Data: testText(3000), ModTime: testMod},
		"404.html":        {Data: []byte("<h1>not here</h1>"), ModTime: testMod},
		"pkg/app_bg.wasm": {Data: append([]byte("\x00asm\x01\x00\x00\x00"), testText(20_000)...), ModTime: testMod},
	}, compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	store.Precompress(context.Background())
	srv := New(Config{Source: store, Headers: rules, NotFound: "404.html", CrossOriginIsolation: true})
	etag := do(t, srv, "GET", "/pkg/app_bg.wasm", "Accept-Encoding", "br").Header.Get("Etag")

	hsts, csp, acao, robots, coep := "max-age=63072000", "script-src 'self' 'wasm-unsafe-eval'", "https://app.example", "noindex", "credentialless"
	for _, tc := range []struct {
		name, method, target string
		header               []string
		status               int
		want                 map[string]string // "" = absent
	}{
		{"page", "GET", "/", []string{"Accept-Encoding", "br"}, 200, map[string]string{
			"Content-Security-Policy": csp, "Strict-Transport-Security": hsts, "Access-Control-Allow-Origin": "", "X-Robots-Tag": "",
			"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "br", "Cross-Origin-Embedder-Policy": coep}},
		{"wasm by its base name", "GET", "/pkg/app_bg.wasm", []string{"Accept-Encoding", "br"}, 200, map[string]string{
			"Access-Control-Allow-Origin": acao, "Strict-Transport-Security": hsts, "X-Robots-Tag": robots, "Content-Security-Policy": "",
			"Content-Type": "application/wasm"}},
		{"HEAD", "HEAD", "/pkg/app_bg.wasm", nil, 200, map[string]string{"Access-Control-Allow-Origin": acao}},
		{"range", "GET", "/pkg/app_bg.wasm", []string{"Range", "bytes=0-3"}, 206, map[string]string{"Access-Control-Allow-Origin": acao}},
		{"304 refreshes them", "GET", "/pkg/app_bg.wasm", []string{"Accept-Encoding", "br", "If-None-Match", etag}, 304,
			map[string]string{"Access-Control-Allow-Origin": acao, "Strict-Transport-Security": hsts}},
		{"not-found page is a file", "GET", "/nope", nil, 404, map[string]string{"Strict-Transport-Security": hsts,
			"Content-Security-Policy": "default-src 'none'"}},
		{"brisk's own errors carry none", "GET", "/a/../b", nil, 400, map[string]string{"Strict-Transport-Security": "",
			"Cross-Origin-Embedder-Policy": "require-corp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, srv, tc.method, tc.target, tc.header...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			for name, want := range tc.want {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
				if n := len(resp.Header.Values(name)); n > 1 {
					t.Errorf("%s sent %d times", name, n)
				}
			}
		})
	}
}

// Header values are built once per file: adding rules keeps the serve
// path free of allocations.
func TestHeaderRulesAllocateNothing(t *testing.T) {
	skipUnderRace(t)
	rule, _ := ParseHeaderRule("*=Strict-Transport-Security: max-age=63072000")
	store, err := compress.Open(fstest.MapFS{"app.js": {Data: testText(5000)}}, compress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Source: store, Headers: []HeaderRule{rule}})
	req, _ := http.NewRequest("GET", "/app.js", nil)
	w := &discardWriter{h: http.Header{}}
	srv.ServeHTTP(w, req)
	if w.h.Get("Strict-Transport-Security") == "" {
		t.Fatal("rule not applied")
	}
	if allocs := testing.AllocsPerRun(100, func() { clear(w.h); srv.ServeHTTP(w, req) }); allocs != 0 {
		t.Errorf("%.1f allocations per request with a header rule", allocs)
	}
}
