package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brisk-server/brisk/compress"
)

var testMod = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testText returns n bytes of compressible, deterministic text.
func testText(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		b.WriteString("export function wasm_bindgen_" + strings.Repeat("x", i%7) + "() { return 42; }\n")
	}
	return b.Bytes()[:n]
}

func testFiles() fstest.MapFS {
	return fstest.MapFS{
		"index.html":         {Data: testText(4000), ModTime: testMod},
		"pkg/app.js":         {Data: testText(30_000), ModTime: testMod},
		"pkg/app_bg.wasm":    {Data: append([]byte("\x00asm\x01\x00\x00\x00"), testText(60_000)...), ModTime: testMod},
		"pkg/app.css":        {Data: []byte("body{margin:0}"), ModTime: testMod},
		"img/logo.png":       {Data: []byte("\x89PNG fake"), ModTime: testMod},
		"docs/index.html":    {Data: testText(2000), ModTime: testMod},
		"docs/guide.txt":     {Data: []byte("guide"), ModTime: testMod},
		"embedded-like.json": {Data: testText(2000)}, // no ModTime, like embed.FS
		".env":               {Data: []byte("SECRET=hunter2")},
	}
}

// newTestServer precompresses testFiles at the fast level (the encoders'
// own tests cover the best level) and returns a server over them.
func newTestServer(t testing.TB) (*Server, *compress.Store) {
	t.Helper()
	codings, err := compress.NewCodings("br,zstd,gzip", compress.Fast)
	if err != nil {
		t.Fatal(err)
	}
	store, err := compress.Open(testFiles(), compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	store.Precompress(context.Background())
	srv := New(Config{Source: store, Started: testMod.Add(time.Hour)})
	newLoopbackServer(t, srv)
	return srv, store
}

func body(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRepresentationHeaders(t *testing.T) {
	srv, store := newTestServer(t)
	snap := store.Snapshot()
	tests := []struct {
		name, target, acceptEncoding string
		wantType, wantEncoding       string
		wantVary                     bool
		wantLastModified             time.Time
	}{
		{"wasm is exactly application/wasm (streaming compile)", "/pkg/app_bg.wasm", "br", "application/wasm", "br", true, testMod},
		{"js glue as a module script", "/pkg/app.js", "gzip", "text/javascript; charset=utf-8", "gzip", true, testMod},
		{"zstd when asked", "/pkg/app.js", "zstd", "text/javascript; charset=utf-8", "zstd", true, testMod},
		{"identity of a compressible file still varies", "/pkg/app.js", "", "text/javascript; charset=utf-8", "", true, testMod},
		{"directory index", "/", "br", "text/html; charset=utf-8", "br", true, testMod},
		{"tiny css is not compressed nor varied", "/pkg/app.css", "br", "text/css; charset=utf-8", "", false, testMod},
		{"png is never compressed", "/img/logo.png", "br, gzip", "image/png", "", false, testMod},
		{"no mtime: start time stands in", "/embedded-like.json", "br", "application/json", "br", true, testMod.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.acceptEncoding != "" {
				hdr = []string{"Accept-Encoding", tt.acceptEncoding}
			}
			resp := do(t, srv, "GET", tt.target, hdr...)
			b := body(t, resp)
			h := resp.Header
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := h.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if got := h.Get("Content-Encoding"); got != tt.wantEncoding {
				t.Errorf("Content-Encoding %q, want %q", got, tt.wantEncoding)
			}
			if got := h.Get("Vary") == "Accept-Encoding"; got != tt.wantVary {
				t.Errorf("Vary %q, want Accept-Encoding: %v", h.Get("Vary"), tt.wantVary)
			}
			if got := h.Get("Content-Length"); got != strconv.Itoa(len(b)) {
				t.Errorf("Content-Length %q, body %d bytes", got, len(b))
			}
			if got := h.Get("Last-Modified"); got != tt.wantLastModified.Format(http.TimeFormat) {
				t.Errorf("Last-Modified %q, want %v", got, tt.wantLastModified)
			}
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Cache-Control":          DefaultCacheControl,
				"Accept-Ranges":          "bytes",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s %q, want %q", k, got, want)
				}
			}
			name, _ := assetName(tt.target)
			a, _ := snap.Lookup(name)
			rep := &a.Identity
			for i, v := range a.Variants() {
				if v.Coding == tt.wantEncoding {
					rep = &a.Variants()[i]
				}
			}
			if !bytes.Equal(b, repBytes(t, rep)) {
				t.Error("body is not the selected representation")
			}
			if got := h.Get("Etag"); got != `"`+rep.Tag+`"` {
				t.Errorf("ETag %s, want %q", got, rep.Tag)
			}
		})
	}
}

// Each representation has its own strong ETag (RFC 9110 §8.8.3), or a
// cache could answer a br request with gzip bytes after a 304.
func TestETagsDistinctPerRepresentation(t *testing.T) {
	srv, _ := newTestServer(t)
	seen := map[string]string{}
	for _, enc := range []string{"", "br", "zstd", "gzip"} {
		resp := do(t, srv, "GET", "/pkg/app.js", "Accept-Encoding", enc)
		etag := resp.Header.Get("Etag")
		if !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") {
			t.Errorf("%q: ETag %s is not a strong tag", enc, etag)
		}
		if other, dup := seen[etag]; dup {
			t.Errorf("%q and %q share ETag %s", enc, other, etag)
		}
		seen[etag] = enc
	}
}

func TestHEADMatchesGET(t *testing.T) {
	srv, _ := newTestServer(t)
	get := do(t, srv, "GET", "/pkg/app_bg.wasm", "Accept-Encoding", "br")
	head := do(t, srv, "HEAD", "/pkg/app_bg.wasm", "Accept-Encoding", "br")
	if b := body(t, head); len(b) != 0 {
		t.Errorf("HEAD sent %d body bytes", len(b))
	}
	for _, k := range []string{"Content-Length", "Content-Type", "Content-Encoding", "Etag", "Last-Modified", "Vary"} {
		if get.Header.Get(k) != head.Header.Get(k) {
			t.Errorf("%s: GET %q, HEAD %q", k, get.Header.Get(k), head.Header.Get(k))
		}
	}
}

func TestStatusAndErrors(t *testing.T) {
	srv, _ := newTestServer(t)
	tests := []struct {
		name, method, target string
		header               []string
		want                 int
		wantHeader           map[string]string
	}{
		{"RFC 9110 §15.5.6 POST on a file", "POST", "/pkg/app.js", nil, 405, map[string]string{"Allow": "GET, HEAD"}},
		{"RFC 9110 §15.5.6 DELETE on the index", "DELETE", "/", nil, 405, map[string]string{"Allow": "GET, HEAD"}},
		{"POST to nothing", "POST", "/nope", nil, 404, nil},
		{"missing file", "GET", "/nope.js", nil, 404, nil},
		{"trailing slash on a file", "GET", "/pkg/app.js/", nil, 404, nil},
		{"directory without index", "GET", "/pkg/", nil, 404, nil},
		{"RFC 9110 §15.4.2 directory without slash", "GET", "/docs?x=1", nil, 301, map[string]string{"Location": "/docs/?x=1"}},
		{"RFC 9110 §15.5.7 identity refused, nothing else", "GET", "/img/logo.png", []string{"Accept-Encoding", "identity;q=0"}, 406, nil},
		{"RFC 9110 §15.5.7 *;q=0 on compressible", "GET", "/pkg/app.js", []string{"Accept-Encoding", "*;q=0"}, 406, map[string]string{"Vary": "Accept-Encoding"}},
		{"dotfile", "GET", "/.env", nil, 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, srv, tt.method, tt.target, tt.header...)
			b := body(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			if tt.want < 400 {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
				t.Errorf("error Content-Type %q", got)
			}
			if want := strconv.Itoa(tt.want) + " " + http.StatusText(tt.want) + "\n"; string(b) != want {
				t.Errorf("error body %q, want %q", b, want)
			}
			for _, k := range []string{"Content-Encoding", "Etag", "Cache-Control", "Last-Modified"} {
				if v := resp.Header.Get(k); v != "" {
					t.Errorf("error response carries %s: %q", k, v)
				}
			}
		})
	}
}

func repBytes(t testing.TB, r *compress.Representation) []byte {
	t.Helper()
	b, err := r.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Files and variants past the memory budget are sent from disk, whole or
// in ranges, byte for byte.
func TestServeFromDisk(t *testing.T) {
	dir := t.TempDir()
	big := testText(300_000)
	if err := os.WriteFile(filepath.Join(dir, "app_bg.wasm"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	codings, _ := compress.NewCodings("gzip", compress.Fast)
	store, err := compress.OpenDir(dir, compress.Config{Codings: codings, MemoryBudget: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.Precompress(context.Background())
	base := newLoopbackServer(t, New(Config{Source: store}))
	get := func(header ...string) (*http.Response, []byte) {
		return fetch(t, "GET", base+"/app_bg.wasm", header...)
	}
	if resp, b := get(); !bytes.Equal(b, big) || resp.ContentLength != int64(len(big)) {
		t.Errorf("identity from disk: %d bytes, Content-Length %d", len(b), resp.ContentLength)
	}
	if resp, b := get("Range", "bytes=1000-1999"); resp.StatusCode != 206 || !bytes.Equal(b, big[1000:2000]) {
		t.Errorf("range from disk: %d, %d bytes", resp.StatusCode, len(b))
	}
	resp, b := get("Accept-Encoding", "gzip")
	plain, err := codings[0].Decode(b, int64(len(big)))
	if resp.Header.Get("Content-Encoding") != "gzip" || err != nil || !bytes.Equal(plain, big) {
		t.Errorf("gzip variant from disk: %q, %v", resp.Header.Get("Content-Encoding"), err)
	}
	if used := store.MemoryUsed(); used > 1000 {
		t.Errorf("%d bytes held in memory, budget 1000", used)
	}
}

// At a cold start without a manifest, a request that accepts the coding
// of a sidecar not yet checked waits for its check rather than get the
// whole file uncompressed.
func TestColdStartWaitsForSidecars(t *testing.T) {
	dir := t.TempDir()
	wasm := testText(200_000)
	codings, _ := compress.NewCodings("br", compress.Fast)
	br, err := codings[0].Encode(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"app_bg.wasm": wasm, "app_bg.wasm.br": br} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store, err := compress.OpenDir(dir, compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := New(Config{Source: store})
	got := make(chan *http.Response, 1)
	go func() { got <- do(t, srv, "GET", "/app_bg.wasm", "Accept-Encoding", "br") }()
	time.Sleep(50 * time.Millisecond) // let the request arrive first
	store.Precompress(context.Background())
	resp := <-got
	if enc := resp.Header.Get("Content-Encoding"); enc != "br" || !bytes.Equal(body(t, resp), br) {
		t.Errorf("Content-Encoding %q: not the checked sidecar", enc)
	}
	if resp := do(t, srv, "GET", "/app_bg.wasm"); resp.Header.Get("Content-Encoding") != "" {
		t.Error("a request without Accept-Encoding got an encoding")
	}
}
