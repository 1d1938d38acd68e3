package server

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/brisk-server/brisk/compress"
)

func spaServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	store, err := compress.Open(fstest.MapFS{
		"index.html":      {Data: []byte("<h1>app</h1>")},
		"pkg/app_bg.wasm": {Data: []byte("\x00asm")},
		"docs/index.html": {Data: []byte("<h1>docs</h1>")},
	}, compress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Source = store
	srv := New(cfg)
	newLoopbackServer(t, srv)
	return srv
}

func TestSPAFallback(t *testing.T) {
	srv := spaServer(t, Config{Fallback: "index.html"})
	tests := []struct {
		name, method, target, accept string
		want                         int
		wantBody                     string
	}{
		{"browser navigation to a route", "GET", "/todos/3", "text/html,application/xhtml+xml,*/*;q=0.8", 200, "<h1>app</h1>"},
		{"no Accept at all", "GET", "/settings", "", 200, "<h1>app</h1>"},
		{"HEAD of a route", "HEAD", "/todos", "text/html", 200, ""},
		{"fetch() with */*", "GET", "/about", "*/*", 200, "<h1>app</h1>"},
		{"JSON only", "GET", "/api/todos", "application/json", 404, ""},
		{"HTML refused explicitly", "GET", "/about", "text/html;q=0, */*", 404, ""},
		{"missing wasm stays 404", "GET", "/pkg/other_bg.wasm", "*/*", 404, ""},
		{"missing js stays 404", "GET", "/pkg/app.js", "text/html", 404, ""},
		{"POST is not navigation", "POST", "/todos", "text/html", 404, ""},
		{"real files still win", "GET", "/docs/", "text/html", 200, "<h1>docs</h1>"},
		{"a route with a trailing slash", "GET", "/todos/", "text/html", 200, "<h1>app</h1>"},
		{"a deeper route with a trailing slash", "GET", "/todos/3/", "text/html", 200, "<h1>app</h1>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.accept != "" {
				hdr = []string{"Accept", tt.accept}
			}
			resp := do(t, srv, tt.method, tt.target, hdr...)
			b := string(body(t, resp))
			if resp.StatusCode != tt.want || (tt.wantBody != "" && b != tt.wantBody) {
				t.Errorf("status %d body %q, want %d %q", resp.StatusCode, b, tt.want, tt.wantBody)
			}
			if tt.target != "/docs/" && !containsToken(resp.Header.Values("Vary"), "Accept") {
				t.Errorf("Vary %q lacks Accept", resp.Header.Values("Vary"))
			}
		})
	}
	if resp := do(t, spaServer(t, Config{}), "GET", "/todos/3", "Accept", "text/html"); resp.StatusCode != 404 {
		t.Errorf("without --spa, unknown routes must be 404, got %d", resp.StatusCode)
	}
}

// A fallback page large enough to be compressed varies on both Accept
// and Accept-Encoding: a shared cache must not hand the HTML to a JSON
// client, nor a br body to a client that cannot decode it.
func TestSPAFallbackVariesOnAcceptAndEncoding(t *testing.T) {
	codings, _ := compress.NewCodings("gzip", compress.Fast)
	store, err := compress.Open(fstest.MapFS{"index.html": {Data: testText(4000)}}, compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	store.Precompress(context.Background())
	srv := New(Config{Source: store, Fallback: "index.html"})
	for _, enc := range []string{"gzip", ""} {
		resp := do(t, srv, "GET", "/todos/3", "Accept", "text/html", "Accept-Encoding", enc)
		vary := strings.Join(resp.Header.Values("Vary"), ", ")
		if resp.StatusCode != 200 || !strings.Contains(vary, "Accept-Encoding") || !containsToken(strings.Split(vary, ", "), "Accept") {
			t.Errorf("Accept-Encoding %q: status %d, Vary %q, want Accept and Accept-Encoding", enc, resp.StatusCode, vary)
		}
	}
}

func containsToken(values []string, token string) bool {
	for _, v := range values {
		if v == token {
			return true
		}
	}
	return false
}

func TestBasePath(t *testing.T) {
	srv := spaServer(t, Config{BasePath: "app"}) // normalised to /app/
	tests := []struct {
		target   string
		want     int
		location string
	}{
		{"/app/", 200, ""},
		{"/app/pkg/app_bg.wasm", 200, ""},
		{"/app", 301, "/app/"},
		{"/app/docs", 301, "/app/docs/"},
		{"/", 404, ""},
		{"/pkg/app_bg.wasm", 404, ""},
		{"/application/", 404, ""},
	}
	for _, tt := range tests {
		resp := do(t, srv, "GET", tt.target)
		if resp.StatusCode != tt.want || resp.Header.Get("Location") != tt.location {
			t.Errorf("GET %s: %d Location %q, want %d %q", tt.target, resp.StatusCode, resp.Header.Get("Location"), tt.want, tt.location)
		}
	}
}

func TestCachePolicy(t *testing.T) {
	leptos := CachePolicy{}
	tests := []struct {
		policy CachePolicy
		name   string
		want   string
	}{
		{leptos, "pkg/app.Ab3_x-9ZKq1mN0pQrStUvW.wasm", ImmutableCacheControl},
		{leptos, "pkg/app.Ab3_x-9ZKq1mN0pQrStUvW.js", ImmutableCacheControl},
		{leptos, "pkg/app.Ab3_x-9ZKq1mN0pQrStUvW.css", ImmutableCacheControl},
		{leptos, "todo-app-8f2c4b1e9d0a7c63.js", ImmutableCacheControl},
		{leptos, "todo-app-8f2c4b1e9d0a7c63_bg.wasm", ImmutableCacheControl},
		{leptos, "styles-0123456789abcdef.css", ImmutableCacheControl},
		{leptos, "pkg/app.js", DefaultCacheControl},
		{leptos, "pkg/app_bg.wasm", DefaultCacheControl},
		{leptos, "index.html", DefaultCacheControl},
		{leptos, "index-0123456789abcdef.html", DefaultCacheControl},  // HTML never
		{leptos, "pkg/app.tooshort.wasm", DefaultCacheControl},        // not 22 chars
		{leptos, "todo-app-8F2C4B1E9D0A7C63.js", DefaultCacheControl}, // not lowercase hex
		{CachePolicy{Hashes: []string{"k3Yx"}}, "pkg/app.k3Yx.js", ImmutableCacheControl},
		{CachePolicy{Rules: []CacheRule{{"*.wasm", "public, max-age=60"}}}, "pkg/app_bg.wasm", "public, max-age=60"},
		{CachePolicy{Rules: []CacheRule{{"pkg/*", "private"}, {"*.js", "no-store"}}}, "pkg/app.js", "private"},
		{CachePolicy{Rules: []CacheRule{{"*.js", "no-store"}}}, "todo-app-8f2c4b1e9d0a7c63.js", "no-store"},
		{CachePolicy{Default: "no-store", NoImmutable: true}, "todo-app-8f2c4b1e9d0a7c63.js", "no-store"},
	}
	for _, tt := range tests {
		if got := tt.policy.For(tt.name); got != tt.want {
			t.Errorf("%+v.For(%q) = %q, want %q", tt.policy, tt.name, got, tt.want)
		}
	}
	for _, bad := range []string{"", "*.wasm", "=x", "*.wasm=", "[=x"} {
		if _, err := ParseCacheRule(bad); err == nil {
			t.Errorf("ParseCacheRule(%q) accepted", bad)
		}
	}
	if r, err := ParseCacheRule("/pkg/*.wasm = public, max-age=60"); err != nil || r != (CacheRule{"pkg/*.wasm", "public, max-age=60"}) {
		t.Errorf("ParseCacheRule: %+v, %v", r, err)
	}
	if got := ParseHashFile([]byte("js: abc\ncss: def\nwasm: ghi\n\nnonsense\n")); len(got) != 3 || got[2] != "ghi" {
		t.Errorf("ParseHashFile: %q", got)
	}
}
