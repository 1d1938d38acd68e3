package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// startServer runs a Server on a real loopback listener, as brisk does.
func startServer(t *testing.T, src Source) string {
	t.Helper()
	return strings.TrimPrefix(newLoopbackServer(t, New(Config{Source: src})), "http://")
}

// newLoopbackServer serves srv on a loopback port until the test ends and
// returns its base URL, which do then uses for srv.
func newLoopbackServer(t testing.TB, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	loopbacks.Store(srv, base)
	t.Cleanup(func() {
		loopbacks.Delete(srv)
		stopped.Store(srv, true)
		closeIdle()
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return base
}

// dial opens a connection to addr that closes when the test ends, and
// fails the test's reads and writes after within.
func dial(t testing.TB, addr string, within time.Duration) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(within)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// rawGet sends target byte for byte, so that no client library cleans or
// re-encodes the path on the way.
func rawGet(t *testing.T, addr, target string) (status int, body string) {
	t.Helper()
	conn := dial(t, addr, 30*time.Second)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTraversalNeverLeaves(t *testing.T) {
	const secret = "TOP-SECRET-OUTSIDE-THE-ROOT"
	base := t.TempDir()
	root := filepath.Join(base, "root")
	for name, data := range map[string]string{
		"secret.txt":             secret,
		"root/index.html":        "<h1>home</h1>",
		"root/pkg/app.js":        "console.log(1)",
		"root/.env":              secret,
		"root/.git/config":       secret,
		"root/pkg/.hidden.js":    secret,
		"root/pkg/sub/.DS_Store": secret,
	} {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(root, "leak.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(root, "up")); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	store, err := compress.Open(r.FS(), compress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, store)

	targets := []string{
		"/../secret.txt", "/pkg/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
		"/%2e%2e%2fsecret.txt", "/..%2fsecret.txt", "/pkg%2f..%2f..%2fsecret.txt",
		"/%252e%252e/secret.txt", "/%252e%252e%252fsecret.txt", "/..%5csecret.txt",
		"/%5c..%5csecret.txt", "/..\\secret.txt", "/%c0%ae%c0%ae/secret.txt",
		"/%00", "/index.html%00", "/index.html%00.js", "/.env", "/%2eenv", "/.git/config",
		"/.git/", "/pkg/.hidden.js", "/pkg/sub/.DS_Store", "/leak.txt", "/up/secret.txt",
		"//secret.txt", "/./index.html", "/pkg/./app.js", "/%2e/index.html",
		"http://evil/../secret.txt", "*",
	}
	for _, target := range targets {
		status, body := rawGet(t, addr, target)
		if status != http.StatusBadRequest && status != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 400 or 404", target, status)
		}
		if strings.Contains(body, secret) {
			t.Errorf("GET %s: leaked a file outside the root or a dotfile", target)
		}
	}
	// Over h2c the target travels as the :path pseudo-header, which is
	// always in origin form ("/..."), byte for byte too.
	for _, target := range targets {
		if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") {
			continue
		}
		req := &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: addr, Opaque: target}, Header: http.Header{}}
		resp, err := h2c.client.Do(req)
		if err != nil {
			t.Errorf("GET %s over h2c: %v", target, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s over h2c: status %d, want 400 or 404", target, resp.StatusCode)
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("GET %s over h2c: leaked a file outside the root or a dotfile", target)
		}
	}
	if status, body := rawGet(t, addr, "/"); status != 200 || body != "<h1>home</h1>" {
		t.Errorf("GET /: %d %q", status, body)
	}
}

// Over a real connection: responses are framed by Content-Length (never
// chunked, so browsers show progress), HEAD sends headers only, and a
// revalidation with the ETag gets a 304.
func TestEndToEndFraming(t *testing.T) {
	_, store := newTestServer(t)
	base := "http://" + startServer(t, store)
	get := func(method, path string, header ...string) (*http.Response, []byte) {
		return fetch(t, method, base+path, header...)
	}

	a, _ := store.Snapshot().Lookup("pkg/app_bg.wasm")
	for _, enc := range []string{"br", "zstd", "gzip", "identity"} {
		resp, b := get("GET", "/pkg/app_bg.wasm", "Accept-Encoding", enc)
		if len(resp.TransferEncoding) != 0 || resp.ContentLength != int64(len(b)) {
			t.Errorf("%s: Transfer-Encoding %v, Content-Length %d for %d bytes", enc, resp.TransferEncoding, resp.ContentLength, len(b))
		}
		if enc == "gzip" {
			zr, err := gzip.NewReader(strings.NewReader(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil || string(plain) != string(repBytes(t, &a.Identity)) {
				t.Errorf("gzip body does not decode to the file: %v", err)
			}
		}
	}

	head, b := get("HEAD", "/pkg/app_bg.wasm", "Accept-Encoding", "br")
	if len(b) != 0 || head.ContentLength <= 0 || head.Header.Get("Content-Encoding") != "br" {
		t.Errorf("HEAD: %d body bytes, Content-Length %d, Content-Encoding %q", len(b), head.ContentLength, head.Header.Get("Content-Encoding"))
	}

	first, _ := get("GET", "/pkg/app_bg.wasm", "Accept-Encoding", "br")
	again, b := get("GET", "/pkg/app_bg.wasm", "Accept-Encoding", "br", "If-None-Match", first.Header.Get("Etag"))
	if again.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Errorf("revalidation: status %d with %d bytes, want 304 and none", again.StatusCode, len(b))
	}
}

// Responses whose head and body leave in one write (oneWriteConn) arrive
// whole, in order, on one keep-alive connection, whatever their size,
// between responses sent from disk and revalidations.
func TestOneWriteResponsesOnKeepAlive(t *testing.T) {
	files := fstest.MapFS{}
	sizes := []int{100, 3 << 10, 4 << 10, 6 << 10, 16 << 10, 64 << 10, 300 << 10}
	for _, n := range sizes {
		files[fmt.Sprintf("f%d.bin", n)] = &fstest.MapFile{Data: randomish(n)}
	}
	store, err := compress.Open(files, compress.Config{MemoryBudget: 200 << 10}) // the largest stays on disk
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, startServer(t, store), time.Minute)
	br := bufio.NewReader(conn)
	for round := range 3 {
		for _, n := range sizes {
			name := fmt.Sprintf("f%d.bin", n)
			fmt.Fprintf(conn, "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", name)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("round %d, %s: %v", round, name, err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !bytes.Equal(got, files[name].Data) || resp.ContentLength != int64(n) {
				t.Fatalf("round %d, %s: %d bytes (Content-Length %d), want %d: %v", round, name, len(got), resp.ContentLength, n, err)
			}
			fmt.Fprintf(conn, "GET /%s HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n", name, resp.Header.Get("Etag"))
			if resp, err = http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusNotModified {
				t.Fatalf("round %d, %s revalidated: %v %v", round, name, resp, err)
			}
		}
	}
}

// randomish returns n bytes that no coding shrinks.
func randomish(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
