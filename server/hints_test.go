package server

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// A page's preload links go out as a Link header and, first, in a 103
// Early Hints response; links to files that do not exist are left out.
func TestEarlyHints(t *testing.T) { forEachProtocol(t, testEarlyHints) }

func testEarlyHints(t *testing.T, p protocol) {
	// Absolute links carry the base path, as Trunk --public-url writes them.
	page := `<!doctype html><html><head>
<link rel="modulepreload" href="BASEpkg/app.js">
<link rel="preload" href="pkg/app_bg.wasm" as="fetch" type="application/wasm" crossorigin>
<link rel="preload" href="/pkg/missing.wasm" as="fetch">
<link rel="stylesheet" href="/style.css">
<link rel="preload" href="https://cdn.example/x.js" as="script">
</head><body><link rel="preload" href="/late.js"></body></html>`
	for _, basePath := range []string{"/", "/app/"} {
		store, err := compress.Open(fstest.MapFS{
			"index.html": {Data: []byte(strings.ReplaceAll(page, "BASE", basePath))}, "pkg/app.js": {Data: []byte("x")},
			"pkg/app_bg.wasm": {Data: []byte("y")}, "style.css": {Data: []byte("z")}, "late.js": {Data: []byte("w")},
		}, compress.Config{})
		if err != nil {
			t.Fatal(err)
		}
		base := newLoopbackServer(t, New(Config{Source: store, BasePath: basePath}))
		resp, _, hints := p.send(t, "GET", base+basePath)
		want := `<` + basePath + `pkg/app.js>; rel=modulepreload, <` + basePath + `pkg/app_bg.wasm>; rel=preload; as="fetch"; type="application/wasm"; crossorigin`
		if len(hints) != 1 || hints[0] != want {
			t.Errorf("base %s: 103 Link headers %q, want one: %q", basePath, hints, want)
		}
		if got := resp.Header.Get("Link"); resp.StatusCode != 200 || got != want {
			t.Errorf("base %s: 200 Link %q", basePath, got)
		}
	}
}

// rawExchange sends request on a new connection and returns what came
// back, 1xx responses included, until the server closed the connection.
func rawExchange(t *testing.T, addr, request string) string {
	t.Helper()
	conn := dial(t, addr, 5*time.Second)
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// A 103 goes only before a page that is sent: never to an HTTP/1.0 client
// (RFC 9110 §15.2), never before a 304 or a 406; and neither of those
// carries the Link header. A 304 carries no Last-Modified (§15.4.5).
func TestEarlyHintsOnlyBeforeAPage(t *testing.T) {
	page := `<!doctype html><head><link rel="modulepreload" href="/pkg/app.js"></head><body>` + strings.Repeat("<p>filler</p>", 200)
	codings, _ := compress.NewCodings("gzip", compress.Fast)
	store, err := compress.Open(fstest.MapFS{
		"index.html": {Data: []byte(page), ModTime: testMod}, "pkg/app.js": {Data: []byte("x")},
	}, compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	store.Precompress(context.Background())
	addr := strings.TrimPrefix(newLoopbackServer(t, New(Config{Source: store})), "http://")
	first := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(first, "HTTP/1.1 103 Early Hints\r\n") {
		t.Fatalf("no 103 before the page over HTTP/1.1:\n%.300s", first)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(first[strings.Index(first, "HTTP/1.1 200"):])), nil)
	if err != nil {
		t.Fatal(err)
	}
	etag := resp.Header.Get("Etag")

	// Over each protocol: one 103 before the page, none before a 304 or
	// a 406.
	forEachProtocol(t, func(t *testing.T, p protocol) {
		for _, tt := range []struct {
			name   string
			header []string
			status int
		}{
			{"page", []string{"Accept-Encoding", "gzip"}, 200},
			{"revalidation", []string{"Accept-Encoding", "gzip", "If-None-Match", etag}, 304},
			{"nothing acceptable", []string{"Accept-Encoding", "gzip;q=0, identity;q=0"}, 406},
		} {
			resp, _, hints := p.send(t, "GET", "http://"+addr+"/", tt.header...)
			if want := btoi(tt.status == 200); resp.StatusCode != tt.status || len(hints) != want {
				t.Errorf("%s: status %d after %d 103s, want %d after %d", tt.name, resp.StatusCode, len(hints), tt.status, want)
			}
		}
	})

	for _, tt := range []struct {
		name, request string
		status        int
	}{
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: x\r\n\r\n", 200},
		{"revalidation", "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nIf-None-Match: " + etag + "\r\nConnection: close\r\n\r\n", 304},
		{"nothing acceptable", "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=0, identity;q=0\r\nConnection: close\r\n\r\n", 406},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := rawExchange(t, addr, tt.request)
			if strings.Contains(out, " 103 ") {
				t.Errorf("a 103 was sent:\n%.300s", out)
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 && resp.Header.Get("Link") != "" {
				t.Errorf("%d carries Link %q", tt.status, resp.Header.Get("Link"))
			}
			if tt.status == 304 && resp.Header.Get("Last-Modified") != "" {
				t.Errorf("304 carries Last-Modified %q beside its ETag", resp.Header.Get("Last-Modified"))
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
