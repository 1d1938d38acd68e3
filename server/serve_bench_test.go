package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"

	"github.com/brisk-server/brisk/compress"
)

// discardWriter is a ResponseWriter that a benchmark can reuse, so that
// what it counts is the server's own work, not the recorder's.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }

// BenchmarkServe measures the hot path, from routing to the last byte,
// for what brisk exists for: a large br wasm, a small br page, a 304, and
// a returning visitor's delta (dcb or dcz) of a hashed wasm; then the same
// with metrics on (metrics/...) and with the access log on, as text to
// io.Discard (access-log/...). Compare runs with benchstat; allocations
// are the figure to keep at 0 with the access log off.
func BenchmarkServe(b *testing.B) {
	codings, _ := compress.NewCodings("br,zstd,gzip", compress.Fast)
	store, err := compress.Open(fstest.MapFS{
		"index.html":      {Data: testText(2_000), ModTime: testMod},
		"pkg/app_bg.wasm": {Data: append([]byte("\x00asm\x01\x00\x00\x00"), testText(1_500_000)...), ModTime: testMod},
	}, compress.Config{Codings: codings})
	if err != nil {
		b.Fatal(err)
	}
	store.Precompress(context.Background())
	etag := do(b, New(Config{Source: store}), "GET", "/pkg/app_bg.wasm", "Accept-Encoding", "br").Header.Get("Etag")
	for _, mode := range []struct {
		prefix string
		cfg    Config
	}{
		{"", Config{}},
		{"metrics/", Config{Metrics: true}},
		{"access-log/", Config{AccessLog: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}},
	} {
		cfg := mode.cfg
		cfg.Source = store
		benchmarkServe(b, New(cfg), newDeltaSite(b, mode.cfg), mode.prefix, etag)
	}
}

func benchmarkServe(b *testing.B, srv *Server, ds *deltaSite, prefix, etag string) {
	chrome := []string{"Accept-Encoding", "gzip, deflate, br, zstd, dcb, dcz", "Available-Dictionary", ds.availableOld}
	for _, bc := range []struct {
		name, target string
		header       []string
		want         int
		srv          *Server
	}{
		{"wasm-br", "/pkg/app_bg.wasm", []string{"Accept-Encoding", "gzip, deflate, br, zstd"}, 200, srv},
		{"html-br", "/index.html", []string{"Accept-Encoding", "gzip, deflate, br, zstd"}, 200, srv},
		{"wasm-304", "/pkg/app_bg.wasm", []string{"Accept-Encoding", "gzip, deflate, br, zstd", "If-None-Match", etag}, 304, srv},
		{"wasm-delta", "/" + dictWasm, chrome, 200, ds.srv},
	} {
		b.Run(prefix+bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", bc.target, nil)
			for i := 0; i < len(bc.header); i += 2 {
				req.Header.Set(bc.header[i], bc.header[i+1])
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.n = 0
				bc.srv.ServeHTTP(w, req)
				if w.status != bc.want {
					b.Fatalf("status %d", w.status)
				}
			}
			if bc.name == "wasm-delta" && w.h.Get("Content-Encoding") != ds.smallestDelta(b) {
				b.Fatalf("Content-Encoding %q, want %s", w.h.Get("Content-Encoding"), ds.smallestDelta(b))
			}
		})
	}
}

// BenchmarkServeLoopback serves br responses over real loopback
// connections, keep-alive, from parallel clients: a 2 KB page (the cost
// of a request), a mid-size JS bundle (18 KB, more than net/http's 4 KiB
// buffer) and a large wasm (the cost of moving bytes). A CPU profile
// (-cpuprofile) shows where a response's time goes beyond the handler:
// brisk's loop, the socket writes, the kernel. The clients allocate
// nothing, so allocs/op are the server's.
func BenchmarkServeLoopback(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	// Random letters from an alphabet of n compress to about log2(n)/8.
	letters := func(size, n int) []byte {
		out := make([]byte, size)
		for i := range out {
			out[i] = 'a' + byte(r.IntN(n))
		}
		return out
	}
	codings, _ := compress.NewCodings("br", compress.Fast)
	store, err := compress.Open(fstest.MapFS{
		"index.html":      {Data: testText(2_000), ModTime: testMod},
		"pkg/app.js":      {Data: letters(64_000, 7), ModTime: testMod},
		"pkg/app_bg.wasm": {Data: letters(800_000, 20), ModTime: testMod},
	}, compress.Config{Codings: codings})
	if err != nil {
		b.Fatal(err)
	}
	store.Precompress(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := New(Config{Source: store})
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	addr := ln.Addr().String()
	for _, name := range []string{"index.html", "pkg/app.js", "pkg/app_bg.wasm"} {
		b.Run(name, func(b *testing.B) {
			a, _ := store.Snapshot().Lookup(name)
			b.SetBytes(a.Variants()[0].Size)
			request := []byte("GET /" + name + " HTTP/1.1\r\nHost: b\r\nAccept-Encoding: br\r\n\r\n")
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				r := bufio.NewReaderSize(conn, 64<<10)
				for pb.Next() {
					if _, err := conn.Write(request); err != nil {
						b.Error(err)
						return
					}
					if err := skipResponse(r); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// skipResponse reads one response with a Content-Length and drops it,
// allocating nothing.
func skipResponse(r *bufio.Reader) error {
	length := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			length = 0
			for _, c := range bytes.TrimSpace(v) {
				length = 10*length + int(c-'0')
			}
		}
	}
	if length < 0 {
		return errors.New("response without Content-Length")
	}
	_, err := r.Discard(length)
	return err
}
