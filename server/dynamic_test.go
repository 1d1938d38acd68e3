package server

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/brisk-server/brisk/compress"
)

// streamCodings are the stream codings brisk serves with by default.
func streamCodings(t testing.TB) []*compress.StreamCoding {
	t.Helper()
	c, err := compress.NewStreamCodings("zstd,br,gzip")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// decoder returns a reader that decodes coding from r as it arrives.
func decoder(t testing.TB, coding string, r io.Reader) io.Reader {
	t.Helper()
	switch coding {
	case "br":
		return brotli.NewReader(r)
	case "zstd":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(compress.MaxZstdWindow))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		return d
	case "gzip":
		d, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return r
}

// upstreamResponses is a stand-in application server whose answer to each
// path is given by the test: headers as listed and a body of n bytes.
func upstreamResponses(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		for _, kv := range q["h"] {
			k, v, _ := strings.Cut(kv, ":")
			w.Header().Set(k, v)
		}
		status, _ := strconv.Atoi(q.Get("status"))
		if status == 0 {
			status = 200
		}
		n, _ := strconv.Atoi(q.Get("n"))
		if q.Get("length") != "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		w.WriteHeader(status)
		if status != http.StatusNotModified && status != http.StatusNoContent {
			_, _ = w.Write(testText(n))
		}
	}))
	t.Cleanup(up.Close)
	return up
}

// brisk encodes what its upstream sends unencoded, when that is worth it
// and allowed, with the coding negotiation picks, and leaves the rest as it
// came. (Over each protocol on its own: where the encoder flushes depends
// on how the upstream's bytes arrived, so encoded bodies differ from run to
// run, while what they decode to does not.)
func TestUpstreamResponsesEncoded(t *testing.T) { forEachProtocol(t, testUpstreamResponsesEncoded) }

func testUpstreamResponsesEncoded(t *testing.T, p protocol) {
	up := upstreamResponses(t)
	_, base := proxyServer(t, up.URL)
	html := "h=Content-Type:text/html;+charset=utf-8"
	chrome := "gzip, deflate, br, zstd"
	tests := []struct {
		name, method, query, acceptEncoding string
		wantEncoding                        string // "" = passed as it came
		wantVary                            bool
		wantETag                            string // "" = none expected
	}{
		{"streamed page, browser", "GET", html + "&n=5000", chrome, "zstd", true, ""},
		{"br preferred by q", "GET", html + "&n=5000", "gzip;q=0.5, br", "br", true, ""},
		{"gzip only", "GET", html + "&n=5000", "gzip", "gzip", true, ""},
		{"no Accept-Encoding", "GET", html + "&n=5000", "", "", true, ""},
		{"nothing brisk has", "GET", html + "&n=5000", "deflate", "", true, ""},
		{"server-function JSON with a length", "POST", "h=Content-Type:application/json&n=3000&length=1", chrome, "zstd", true, ""},
		{"strong ETag turns weak", "GET", html + "&n=5000&h=ETag:\"v1\"", chrome, "zstd", true, `W/"v1"`},
		{"weak ETag stays", "GET", html + "&n=5000&h=ETag:W/\"v1\"", chrome, "zstd", true, `W/"v1"`},
		{"event stream, flushed per event", "GET", "h=Content-Type:text/event-stream&n=5000", chrome, "zstd", true, ""},
		{"HEAD says what GET would send", "HEAD", html + "&n=5000", chrome, "zstd", true, ""},
		{"304 carries the 200's validator", "GET", "status=304&h=ETag:\"v1\"", chrome, "", true, `W/"v1"`},
		{"already encoded passes untouched", "GET", html + "&n=5000&h=Content-Encoding:gzip", chrome, "gzip", false, ""},
		{"known tiny body", "GET", html + "&n=500&length=1", chrome, "", false, ""},
		{"image", "GET", "h=Content-Type:image/png&n=5000", chrome, "", false, ""},
		{"no Content-Type", "GET", "n=5000&h=Content-Type:", chrome, "", false, ""},
		{"no-transform", "GET", html + "&n=5000&h=Cache-Control:public,+no-transform", chrome, "", false, ""},
		{"partial content", "GET", html + "&n=5000&status=206&h=Content-Range:bytes+0-4999/9000", chrome, "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.acceptEncoding != "" {
				hdr = []string{"Accept-Encoding", tt.acceptEncoding}
			}
			resp, b, _ := p.send(t, tt.method, base+"/dyn?"+tt.query, hdr...)
			h := resp.Header
			if got := h.Get("Content-Encoding"); got != tt.wantEncoding {
				t.Errorf("Content-Encoding %q, want %q", got, tt.wantEncoding)
			}
			if got := containsToken(h.Values("Vary"), "Accept-Encoding"); got != tt.wantVary {
				t.Errorf("Vary %q, want Accept-Encoding: %v", h.Values("Vary"), tt.wantVary)
			}
			if got := h.Get("Etag"); got != tt.wantETag && (tt.wantETag != "" || got != "") {
				t.Errorf("ETag %q, want %q", got, tt.wantETag)
			}
			encoded := tt.wantEncoding != "" && !strings.Contains(tt.query, "Content-Encoding")
			if encoded && (resp.ContentLength != -1 || h.Get("Content-Length") != "") {
				t.Errorf("encoded, yet Content-Length %q", h.Get("Content-Length"))
			}
			if tt.method == "HEAD" || resp.StatusCode == http.StatusNotModified {
				if len(b) != 0 {
					t.Errorf("%d body bytes", len(b))
				}
				return
			}
			n, _ := strconv.Atoi(strings.SplitN(tt.query[strings.Index(tt.query, "n=")+2:], "&", 2)[0])
			plain := b
			if encoded {
				var err error
				if plain, err = io.ReadAll(decoder(t, tt.wantEncoding, bytes.NewReader(b))); err != nil {
					t.Fatalf("decode %s: %v", tt.wantEncoding, err)
				}
			}
			if tt.query != "" && !strings.Contains(tt.query, "Content-Encoding") && !bytes.Equal(plain, testText(n)) {
				t.Errorf("body decodes to %d bytes, not the upstream's %d", len(plain), n)
			}
		})
	}
}

// The real path of a streamed SSR page: the upstream sends three pieces of
// HTML and waits, after each, until the client has decoded it; brisk must
// encode and pass on each piece as it comes, or the client never gets the
// piece the upstream waits for. Over HTTP/1.1, h2c and HTTP/2 over TLS,
// in each coding; the whole body then decodes to the upstream's bytes.
func TestStreamedPageArrivesInPieces(t *testing.T) {
	chunks := []string{
		"<!doctype html><html><head><title>streamed</title></head><body><main>" + strings.Repeat("<p>shell of the page, sent at once</p>", 40),
		"<template id=\"s1\">" + strings.Repeat("<li>resolved item of the first suspense</li>", 40) + "</template>",
		"<template id=\"s2\">" + strings.Repeat("<li>resolved item of the second suspense</li>", 40) + "</template></main></body></html>",
	}
	// got[path] receives the client's word that it decoded chunk i.
	got := map[string]chan int{}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotChunk := got[r.URL.Path]
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		last := time.Now()
		for i, c := range chunks {
			if i > 0 {
				// The client's word first, then the pause a slow data
				// source would make (300 ms since the last piece).
				select {
				case n := <-gotChunk:
					if n != i-1 {
						t.Errorf("%s: client decoded chunk %d, expected word of %d", r.URL.Path, n, i-1)
					}
				case <-time.After(20 * time.Second):
					t.Errorf("%s: the client never decoded chunk %d while the upstream waited for it", r.URL.Path, i-1)
					return
				}
				time.Sleep(time.Until(last.Add(300 * time.Millisecond)))
			}
			_, _ = io.WriteString(w, c)
			w.(http.Flusher).Flush()
			last = time.Now()
		}
	}))
	t.Cleanup(up.Close)

	_, cleartextBase := proxyServer(t, up.URL)
	upURL := mustParse(t, up.URL)
	_, tlsBase, h2 := serveTLS(t, Config{Source: emptySource(t), Upstream: upURL, StreamCodings: streamCodings(t)})
	type route struct {
		p    protocol
		base string
	}
	for _, rt := range []route{{h1, cleartextBase}, {h2c, cleartextBase}, {h2, tlsBase}} {
		for _, coding := range []string{"br", "zstd", "gzip"} {
			path := "/page/" + rt.p.name + "/" + coding
			got[path] = make(chan int, 1)
			t.Run(rt.p.name+"/"+coding, func(t *testing.T) {
				t.Parallel()
				req, _ := http.NewRequest("GET", rt.base+path, nil)
				req.Header.Set("Accept-Encoding", coding)
				resp, err := rt.p.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.ProtoMajor != rt.p.major || resp.Header.Get("Content-Encoding") != coding {
					t.Fatalf("%s, Content-Encoding %q; want %s and %s", resp.Proto, resp.Header.Get("Content-Encoding"), rt.p.name, coding)
				}
				dec := decoder(t, coding, resp.Body)
				var whole []byte
				for i, c := range chunks {
					buf := make([]byte, len(c))
					if _, err := io.ReadFull(dec, buf); err != nil {
						t.Fatalf("chunk %d: %v", i, err)
					}
					if string(buf) != c {
						t.Fatalf("chunk %d decodes to other bytes", i)
					}
					whole = append(whole, buf...)
					if i < len(chunks)-1 {
						got[path] <- i
					}
				}
				rest, err := io.ReadAll(dec)
				if err != nil || len(rest) != 0 {
					t.Errorf("after the last chunk: %d more bytes, %v", len(rest), err)
				}
				if string(whole) != strings.Join(chunks, "") {
					t.Error("the whole body is not the upstream's")
				}
			})
		}
	}
}

func mustParse(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// emptySource is a site without files: everything goes to the upstream.
func emptySource(t testing.TB) Source {
	t.Helper()
	store, err := compress.Open(fstest.MapFS{}, compress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// With every encoder taken, an upstream response passes as it came: not
// encoded, and with the headers that describe its bytes (length, ranges,
// strong validator) untouched.
func TestUpstreamResponsePassesWhenEncodersAreBusy(t *testing.T) {
	up := upstreamResponses(t)
	srv, base := proxyServer(t, up.URL)
	taken := 0
	for srv.acquireEncoder() {
		taken++
	}
	defer func() {
		for range taken {
			srv.releaseEncoder()
		}
	}()
	q := "/page?h=Content-Type:text/html;+charset=utf-8&h=Accept-Ranges:bytes&h=ETag:\"v1\"&n=5000&length=1"
	resp, body := fetch(t, "GET", base+q, "Accept-Encoding", "gzip, br, zstd")
	h := resp.Header
	if h.Get("Content-Encoding") != "" || h.Get("Content-Length") != "5000" || h.Get("Accept-Ranges") != "bytes" ||
		h.Get("Etag") != `"v1"` || len(body) != 5000 {
		t.Errorf("busy encoders: Content-Encoding %q, Content-Length %q, Accept-Ranges %q, ETag %q, %d bytes; want none, 5000, bytes, \"v1\", 5000",
			h.Get("Content-Encoding"), h.Get("Content-Length"), h.Get("Accept-Ranges"), h.Get("Etag"), len(body))
	}
}
