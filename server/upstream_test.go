package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// ssrStandIn plays a Leptos SSR server: it streams HTML, echoes what it
// received, and accepts WebSocket upgrades.
func ssrStandIn(t *testing.T, release <-chan struct{}) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<html><body>first chunk")
		w.(http.Flusher).Flush()
		<-release // the client must see the first chunk before this returns
		fmt.Fprint(w, " last chunk</body></html>")
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		io.Copy(conn, rw) // echo
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"method": r.Method, "path": r.URL.RequestURI(), "body": string(body),
			"xff": r.Header.Get("X-Forwarded-For"), "proto": r.Header.Get("X-Forwarded-Proto"),
			"host": r.Header.Get("X-Forwarded-Host"), "custom": r.Header.Get("X-Custom"),
		})
	})
	up := httptest.NewServer(mux)
	t.Cleanup(up.Close)
	return up
}

func proxyServer(t *testing.T, upstream string, extra ...func(*Config)) (*Server, string) {
	t.Helper()
	codings, _ := compress.NewCodings("br", compress.Fast)
	store, err := compress.Open(fstest.MapFS{
		"pkg/app_bg.wasm": {Data: append([]byte("\x00asm\x01\x00\x00\x00"), testText(20_000)...)},
		"pkg/app.js":      {Data: testText(5_000)},
	}, compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	store.Precompress(context.Background())
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Source: store, Upstream: u, StreamCodings: streamCodings(t)} // as brisk serve does
	for _, f := range extra {
		f(&cfg)
	}
	srv := New(cfg)
	return srv, newLoopbackServer(t, srv)
}

func TestUpstreamGetsEverythingButFiles(t *testing.T) {
	release := make(chan struct{})
	up := ssrStandIn(t, release)
	_, base := proxyServer(t, up.URL)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}

	// Files are brisk's own, precompressed.
	req, _ := http.NewRequest("GET", base+"/pkg/app_bg.wasm", nil)
	req.Header.Set("Accept-Encoding", "br")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "br" || resp.Header.Get("Content-Type") != "application/wasm" {
		t.Errorf("asset: %q %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
	}

	// Everything else reaches the upstream intact.
	for _, tt := range []struct{ method, path, body string }{
		{"GET", "/", ""},
		{"GET", "/todos/3?sort=asc", ""},
		{"POST", "/api/add_todo", "title=buy+milk"},
		{"PUT", "/api/x", `{"a":1}`},
		{"DELETE", "/api/x/1", ""},
		{"GET", "/.well-known/acme-challenge/t", ""},
	} {
		req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
		req.Header.Set("X-Custom", "kept")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s %s: %v (status %d)", tt.method, tt.path, err, resp.StatusCode)
		}
		host := strings.TrimPrefix(base, "http://")
		want := map[string]string{"method": tt.method, "path": tt.path, "body": tt.body,
			"xff": "127.0.0.1", "proto": "http", "host": host, "custom": "kept"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s %s: upstream saw %s=%q, want %q", tt.method, tt.path, k, got[k], v)
			}
		}
	}

	// A file still refuses other methods; a bad path never reaches anyone.
	for _, tt := range []struct {
		method, path string
		want         int
	}{{"POST", "/pkg/app.js", 405}, {"GET", "/pkg/../../etc/passwd", 400}} {
		status, _ := rawRequest(t, strings.TrimPrefix(base, "http://"), tt.method, tt.path)
		if status != tt.want {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, status, tt.want)
		}
	}

	// Streaming: the first chunk arrives while the upstream still writes.
	resp, err = client.Get(base + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("<html><body>first chunk"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(buf)+string(rest) != "<html><body>first chunk last chunk</body></html>" {
		t.Errorf("streamed body %q", string(buf)+string(rest))
	}

	// WebSocket: the upgrade goes through and bytes flow both ways.
	pingThroughWebSocket(t, strings.TrimPrefix(base, "http://"))
}

// pingThroughWebSocket upgrades a connection to addr's /ws, whose upstream
// echoes, and checks that "ping" comes back through it.
func pingThroughWebSocket(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	ws, err := http.ReadResponse(br, nil)
	if err != nil || ws.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", err, ws)
	}
	fmt.Fprint(conn, "ping")
	echo := make([]byte, 4)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(br, echo); err != nil || string(echo) != "ping" {
		t.Errorf("through the upgraded connection: %q, %v", echo, err)
	}
}

func rawRequest(t *testing.T, addr, method, target string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", method, target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestUpstreamDownIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	_, base := proxyServer(t, dead)
	start := time.Now()
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || len(body) > 200 {
		t.Errorf("upstream down: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	t.Logf("502 after %s", time.Since(start).Round(time.Millisecond))
}

func TestCrossOriginIsolation(t *testing.T) {
	up := ssrStandIn(t, nil)
	srv, base := proxyServer(t, up.URL, func(c *Config) { c.CrossOriginIsolation = true })
	for _, target := range []string{"/pkg/app.js", "/pkg/missing.js", "/"} {
		var resp *http.Response
		if target == "/" {
			var err error
			if resp, err = http.Get(base + target); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		} else {
			resp = do(t, srv, "GET", target)
		}
		if resp.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" || resp.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
			t.Errorf("%s: COOP %q, COEP %q", target, resp.Header.Get("Cross-Origin-Opener-Policy"), resp.Header.Get("Cross-Origin-Embedder-Policy"))
		}
	}
}
