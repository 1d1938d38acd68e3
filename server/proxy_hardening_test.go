package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFieldScan(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     bool
	}{
		{"both", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"both, other order and case", "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 4\r\n\r\n", true},
		{"bare LF", "POST / HTTP/1.1\ncontent-length: 4\ntransfer-encoding: chunked\n\n", true},
		{"length only", "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody", false},
		{"chunked only", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"in two requests, not one", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"the second of two requests", "GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", true},
		{"a name that only starts alike", "POST / HTTP/1.1\r\nContent-Length-X: 4\r\nTransfer-Encodings: chunked\r\n\r\n", false},
		{"a value that mentions both", "GET / HTTP/1.1\r\nX: content-length: 1 transfer-encoding: chunked\r\n\r\n", false},
		{"a request line that does", "GET /content-length:transfer-encoding: HTTP/1.1\r\n\r\n", false},
	} {
		for _, step := range []int{len(tc.in), 1, 3, 7} { // whole, and cut at every boundary
			var f fieldScan
			got := false
			for i := 0; i < len(tc.in); i += step {
				got = f.feed([]byte(tc.in[i:min(i+step, len(tc.in))])) || got
			}
			if got != tc.want {
				t.Errorf("%s, read %d bytes at a time: %v, want %v", tc.name, step, got, tc.want)
			}
		}
	}
}

// Requests whose body length is ambiguous are refused and never reach
// the upstream, nor does a request hidden in their body; requests with a
// single, clear framing are forwarded, also on a connection that carried
// both kinds before.
func TestProxyRefusesSmuggling(t *testing.T) {
	var hits atomic.Int64
	var mu sync.Mutex
	var seen []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
	}))
	t.Cleanup(up.Close)
	_, base := proxyServer(t, up.URL)
	addr := strings.TrimPrefix(base, "http://")
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct{ name, req string }{
		{"CL then TE", "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE then CL", "POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled},
		{"lower case", "POST /api HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"HTTP/1.0", "POST /api HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"two lengths", "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\n12345" + smuggled},
		{"TE not chunked", "POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE twice", "POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + smuggled},
		{"space before the colon", "POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"CL+TE after a clean request", "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\n\r\nPOST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			out := rawExchange(t, addr, tc.req)
			last := out[strings.LastIndex(out, "HTTP/1."):]
			status := 0
			fmt.Sscanf(last, "HTTP/1.%d %d", new(int), &status)
			if status < 400 || status == 500 || status > 501 {
				t.Errorf("answered %d, want a 4xx or 501:\n%s", status, out)
			}
			if n := hits.Load(); n != 0 {
				mu.Lock()
				t.Errorf("the upstream got %d requests: %v", n, seen[len(seen)-int(n):])
				mu.Unlock()
			}
		})
	}
	// Clear framings pass, one after the other on one connection.
	hits.Store(0)
	out := rawExchange(t, addr, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"+
		"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+
		"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if n := hits.Load(); n != 3 || strings.Count(out, "HTTP/1.1 200 OK") != 3 {
		t.Errorf("clean requests: upstream got %d of 3; responses:\n%s", n, out)
	}
}

// A client that goes away while the upstream streams its answer cancels
// the upstream's request.
func TestProxyClientGoneCancelsUpstream(t *testing.T) {
	cancelled := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for {
			if _, err := fmt.Fprintln(w, "chunk of an endless stream"); err != nil {
				break
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				close(cancelled)
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(up.Close)
	_, base := proxyServer(t, up.URL)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	gone := time.Now()
	conn.Close()
	select {
	case <-cancelled:
		t.Logf("upstream request cancelled %s after the client left", time.Since(gone).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream still streams 5 s after the client left")
	}
}

// rawUpstream accepts connections and answers each request with whatever
// respond writes, byte for byte.
func rawUpstream(t *testing.T, respond func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				stop := context.AfterFunc(ctx, func() { c.Close() })
				defer stop()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					respond(c)
				}
			})
		}
	})
	return "http://" + ln.Addr().String()
}

// An upstream whose response head is malformed, endless, or never ends
// gets its client a 502 in bounded time.
func TestProxyBadUpstreamHeadIs502(t *testing.T) {
	defer func(d time.Duration) { upstreamHeaderTimeout = d }(upstreamHeaderTimeout)
	upstreamHeaderTimeout = time.Second
	for _, tc := range []struct {
		name    string
		respond func(net.Conn)
		within  time.Duration
	}{
		{"malformed status line", func(c net.Conn) { io.WriteString(c, "HTTP/1.1 two hundred\r\n\r\n") }, time.Second},
		{"not HTTP", func(c net.Conn) { io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n") }, time.Second},
		{"bad header line", func(c net.Conn) { io.WriteString(c, "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n") }, time.Second},
		{"endless header block", func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			line := []byte("X-Filler: " + strings.Repeat("a", 1000) + "\r\n")
			for {
				if _, err := c.Write(line); err != nil {
					return
				}
			}
		}, 3 * time.Second},
		{"a head that never ends", func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			for {
				if _, err := io.WriteString(c, "X: y\r\n"); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}, 3 * time.Second},
		{"silence", func(c net.Conn) { io.Copy(io.Discard, c) }, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, base := proxyServer(t, rawUpstream(t, tc.respond))
			start := time.Now()
			resp, err := http.Get(base + "/page")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status %d, want 502", resp.StatusCode)
			}
			if took > tc.within {
				t.Errorf("502 after %s, want within %s", took, tc.within)
			}
		})
	}
}
