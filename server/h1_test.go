package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// h1Server serves the test files on a loopback port and counts the
// connections net/http saw: those the loop handed over.
func h1Server(t testing.TB) (addr string, handed *atomic.Int64) {
	t.Helper()
	srv, _ := newTestServer(t)
	handed = new(atomic.Int64)
	hook := srv.http.ConnState
	srv.http.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			handed.Add(1)
		}
		hook(c, st)
	}
	base, _ := loopbacks.Load(srv)
	return strings.TrimPrefix(base.(string), "http://"), handed
}

// exchange writes raw on one connection and reads n responses to requests
// of method, bodies included.
func exchange(t *testing.T, addr, method, raw string, n int) []*http.Response {
	t.Helper()
	conn := dial(t, addr, 10*time.Second)
	go fmt.Fprint(conn, raw)
	br := bufio.NewReader(conn)
	var out []*http.Response
	for range n {
		resp, b, _ := readAnswer(t, br, method, raw)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		out = append(out, resp)
	}
	return out
}

// readAnswer reads the answer to one request of method, sent as raw: its
// Early Hints' Link headers, then the final response and its body.
func readAnswer(t *testing.T, r *bufio.Reader, method, raw string) (*http.Response, []byte, []string) {
	t.Helper()
	var hints []string
	for {
		resp, err := http.ReadResponse(r, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if resp.StatusCode < 200 {
			hints = append(hints, resp.Header.Get("Link"))
			continue
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		return resp, body, hints
	}
}

// The loop answers a request as net/http answers the same request: each
// head below goes to the loop, and again with a field the loop leaves to
// net/http (an empty body announced), and the two answers agree in status,
// header, body and Early Hints.
func TestLoopAnswersAsNetHTTPDoes(t *testing.T) {
	twins := newTwinConns(t)
	for _, tt := range loopAnswerSeeds {
		for _, method := range []string{"GET", "HEAD"} {
			twins.compare(t, method, tt.target, tt.header)
		}
	}
	twins.checkLoopKept(t)
}

// FuzzLoopAnswers compares the loop's answers with net/http's for any
// target and header fields the loop takes.
func FuzzLoopAnswers(f *testing.F) {
	for _, tt := range loopAnswerSeeds {
		f.Add(false, tt.target, tt.header)
	}
	twins := newTwinConns(f)
	f.Fuzz(func(t *testing.T, head bool, target, header string) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		raw := []byte(method + " " + target + " HTTP/1.1\r\nHost: x\r\n" + header + "\r\n")
		hc := newH1Conn(nil, nil, "")
		defer hc.stop()
		end := bytes.Index(raw, crlfcrlf)
		if end+4 != len(raw) || bareLF(raw, end) || len(raw) > h1BufSize || !hc.parse(raw) || hc.req.URL.Path == LiveReloadPath {
			return // not the loop's
		}
		twins.compare(t, method, target, header)
	})
	twins.checkLoopKept(f)
}

var loopAnswerSeeds = []struct{ target, header string }{
	{"/", ""},
	{"/index.html", "Accept-Encoding: br, gzip\r\n"},
	{"/pkg/app.js", "Accept-Encoding: gzip;q=0.5, zstd\r\n"},
	{"/pkg/app_bg.wasm", "Accept-Encoding: identity\r\nRange: bytes=10-19\r\n"},
	{"/pkg/app_bg.wasm", "Accept-Encoding: br\r\nIf-None-Match: *\r\n"},
	{"/pkg/app_bg.wasm", "Accept-Encoding: br;q=0, identity;q=0\r\n"},
	{"/missing.js", ""},
	{"/pkg", ""},
	{"/a/../b", ""},
	{"/.env", ""},
	{"/pkg/app.js?v=1&x=/?", "Accept-Encoding: br\r\n"},
	{"/pkg/app.js", "Connection: close\r\n"},
	{"/docs/", "Accept: text/html\r\nIf-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n"},
}

// twinConns are two keep-alive connections to one server: brisk's loop
// serves one, net/http the other, whose requests announce an empty body.
type twinConns struct {
	tb        testing.TB // the connections live as long as it
	addr      string
	handed    *atomic.Int64
	loop, std *rawConn
	stdDials  int64
	conns     []net.Conn // every one dialed, closed when tb ends
}

func newTwinConns(tb testing.TB) *twinConns {
	addr, handed := h1Server(tb)
	tw := &twinConns{tb: tb, addr: addr, handed: handed}
	tb.Cleanup(func() {
		for _, c := range tw.conns {
			c.Close()
		}
	})
	return tw
}

// compare sends one request over both connections and reports how the
// answers differ.
func (tw *twinConns) compare(t *testing.T, method, target, header string) {
	t.Helper()
	head := method + " " + target + " HTTP/1.1\r\nHost: x\r\n" + header
	loop, loopBody, loopHints := tw.send(t, &tw.loop, method, head+"\r\n", false)
	std, stdBody, stdHints := tw.send(t, &tw.std, method, head+"Content-Length: 0\r\n\r\n", true)
	diff := responseDiff(std, stdBody, loop, loopBody)
	if !slices.Equal(stdHints, loopHints) {
		diff += fmt.Sprintf("\n103 Link %q, %q", stdHints, loopHints)
	}
	if diff != "" {
		t.Errorf("%s %s %q: net/http and the loop answer differently:\n%s", method, target, header, diff)
	}
}

// send writes raw on *conn, dialing it first if need be, and reads the
// answer: Early Hints, then the final response with its body. A response
// that closes the connection leaves *conn to be dialed again.
func (tw *twinConns) send(t *testing.T, conn **rawConn, method, raw string, std bool) (*http.Response, []byte, []string) {
	t.Helper()
	if *conn == nil {
		// Not dial: the connection outlives t, a fuzz input's.
		c, err := net.Dial("tcp", tw.addr)
		if err != nil {
			t.Fatal(err)
		}
		tw.conns = append(tw.conns, c)
		*conn = &rawConn{Conn: c, r: bufio.NewReader(c)}
		if std {
			tw.stdDials++
		}
	}
	c := *conn
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, body, hints := readAnswer(t, c.r, method, raw)
	if resp.Close {
		*conn = nil
	}
	return resp, body, hints
}

type rawConn struct {
	net.Conn
	r *bufio.Reader
}

// checkLoopKept checks that net/http saw only the connections meant for
// it: the loop handed none over.
func (tw *twinConns) checkLoopKept(tb testing.TB) {
	tb.Cleanup(func() {
		if got := tw.handed.Load(); got != tw.stdDials {
			tb.Errorf("net/http served %d connections, want the %d dialed for it", got, tw.stdDials)
		}
	})
}

// Whatever the loop does not fully understand goes to net/http, which
// answers it (or refuses it) as it always has.
func TestLoopHandsOver(t *testing.T) {
	addr, handed := h1Server(t)
	long := strings.Repeat("a", h1BufSize)
	for _, tt := range []struct {
		name, raw string
		status    int
	}{
		{"HTTP/1.0", "GET /pkg/app.js HTTP/1.0\r\n\r\n", 200},
		{"percent-encoding", "GET /pkg/app%2ejs HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"a method the loop leaves", "OPTIONS /pkg/app.js HTTP/1.1\r\nHost: x\r\n\r\n", 405},
		{"a body", "POST /pkg/app.js HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 405},
		{"chunked", "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200},
		{"no Host", "GET /pkg/app.js HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
		{"a folded line", "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", 200},
		{"a space before the colon", "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", 400},
		{"bare LF", "GET /pkg/app.js HTTP/1.1\nHost: x\n\n", 200},
		{"bare LF at the end", "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\n\n", 200},
		{"an upgrade", "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 200},
		{"Expect", "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", 200},
		{"a head longer than the loop reads", "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nX-Long: " + long + "\r\n\r\n", 200},
		{"a head longer than MaxHeaderBytes", "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("a", maxHeaderBytes+8<<10) + "\r\n\r\n", 431}, // net/http allows 4 KiB over
		{"absolute form", "GET http://x/pkg/app.js HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"a control character", "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := handed.Load()
			resp := exchange(t, addr, "GET", tt.raw, 1)[0]
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if handed.Load() == before {
				t.Error("the loop answered it itself")
			}
		})
	}
}

// Requests sent before their answers arrive are answered in order, and one
// the loop hands over after answering others gets the bytes that followed
// it too: the loop passes on what it read and did not answer.
func TestLoopPipelinedThenHandedOver(t *testing.T) {
	addr, handed := h1Server(t)
	get := func(target string) string { return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n" }
	raw := get("/pkg/app.js") + get("/index.html") +
		"POST /pkg/app.js HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
		get("/pkg/app_bg.wasm") + "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	resps := exchange(t, addr, "GET", raw, 5)
	var got []string
	for _, r := range resps {
		got = append(got, fmt.Sprintf("%d %s %d", r.StatusCode, r.Header.Get("Content-Type"), r.ContentLength))
	}
	want := []string{"200 text/javascript; charset=utf-8", "200 text/html; charset=utf-8", "405 text/plain; charset=utf-8", "200 application/wasm", "200 text/javascript; charset=utf-8"}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]+" ") {
			t.Errorf("response %d: %q, want %q", i+1, got[i], want[i])
		}
	}
	if handed.Load() != 1 {
		t.Errorf("net/http saw %d connections, want the one handed over", handed.Load())
	}
	if !resps[4].Close {
		t.Error("the last response does not close the connection its request asked to close")
	}
}

// A client that asks to close gets Connection: close and then the end of
// the connection, from the loop.
func TestLoopClosesWhenAsked(t *testing.T) {
	addr, handed := h1Server(t)
	all := rawExchange(t, addr, "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") // returns once brisk closes
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(all)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !resp.Close || !strings.Contains(all, "\r\nConnection: close\r\n") {
		t.Errorf("status %d, close %v, response:\n%s", resp.StatusCode, resp.Close, all[:strings.Index(all, "\r\n\r\n")])
	}
	if handed.Load() != 0 {
		t.Error("the loop handed it over")
	}
}

// FuzzLoopHead holds the loop to net/http: a head the loop accepts is one
// net/http's server accepts too, and reads as the same request (method,
// target, URL, Host, header, Connection: close, no body).
func FuzzLoopHead(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /pkg/app.js?v=1 HTTP/1.1\r\nHost: localhost:3000\r\nAccept-Encoding: gzip, br\r\naccept-encoding: zstd\r\nConnection: keep-alive, close\r\n\r\n",
		"GET /a;b=c,d@e:f$g&h+i~j HTTP/1.1\r\nHost: [::1]:80\r\nIf-None-Match: \"x\", W/\"y\"\r\nX-Empty:\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nX: \xff\t \r\n\r\n",
		"GET /x?a#b HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add(seed)
	}
	std := newRecordingServer(f)
	f.Fuzz(func(t *testing.T, raw string) {
		end := strings.Index(raw, "\r\n\r\n")
		if end < 0 {
			return
		}
		head := []byte(raw[:end+4])
		hc := newH1Conn(nil, nil, "")
		defer hc.stop()
		if !hc.parse(head) {
			return
		}
		got := hc.req
		want, status := std.read(t, head)
		if status != http.StatusOK {
			t.Fatalf("the loop accepts %q, which net/http answers %d", head, status)
		}
		if got.Method != want.Method || got.RequestURI != want.RequestURI || got.Host != want.Host || got.Close != want.Close ||
			*got.URL != *want.URL || !equalHeader(got.Header, want.Header) || want.ContentLength != 0 || want.TransferEncoding != nil {
			t.Fatalf("%q:\nloop     %s %s %+v host %q close %v %q\nnet/http %s %s %+v host %q close %v %q length %d",
				head, got.Method, got.RequestURI, *got.URL, got.Host, got.Close, got.Header,
				want.Method, want.RequestURI, *want.URL, want.Host, want.Close, want.Header, want.ContentLength)
		}
	})
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// recordingServer is a net/http server that keeps the last request it
// read, reached over in-memory connections.
type recordingServer struct {
	conns chan net.Conn
	mu    sync.Mutex
	last  *http.Request
}

func newRecordingServer(tb testing.TB) *recordingServer {
	rs := &recordingServer{conns: make(chan net.Conn)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.last = r.Clone(r.Context())
		rs.mu.Unlock()
	}), ErrorLog: nil}
	ln := &chanListener{conns: rs.conns, done: make(chan struct{})}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return rs
}

// read hands head to the server on a connection of its own, and returns
// the request it read and the status it answered.
func (rs *recordingServer) read(t *testing.T, head []byte) (*http.Request, int) {
	client, server := net.Pipe()
	defer client.Close()
	rs.mu.Lock()
	rs.last = nil
	rs.mu.Unlock()
	rs.conns <- server
	if err := client.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	go client.Write(head)
	resp, err := http.ReadResponse(bufio.NewReader(client), nil)
	if err != nil {
		t.Fatalf("net/http's answer to %q: %v", head, err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.last, resp.StatusCode
}

type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }

// A head sent a byte at a time must still arrive within readHeaderTimeout
// of its first byte: each byte does not buy the client more time.
func TestLoopCutsADribblingHead(t *testing.T) {
	// Put back after the server's cleanup, which runs first.
	old := readHeaderTimeout
	t.Cleanup(func() { readHeaderTimeout = old })
	readHeaderTimeout = 300 * time.Millisecond
	addr, _ := h1Server(t)
	conn := dial(t, addr, time.Minute)
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}()
	const dribble = 3 * time.Second // ten times the timeout
	head := "GET /pkg/app.js HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100)
	for i := 0; ; i++ {
		select {
		case <-closed:
			t.Logf("brisk closed the connection after %d bytes", i)
			return
		case <-time.After(dribble / 30):
		}
		if i == 30 {
			t.Fatalf("the connection is open after %s of a head's bytes, one each %s", dribble, dribble/30)
		}
		if _, err := conn.Write([]byte{head[i%len(head)]}); err != nil {
			return // closed
		}
	}
}

// The loop allocates nothing for a request on a keep-alive connection:
// counted over a real loopback connection whose client allocates nothing
// either (skipResponse), so the count is the server's.
func TestLoopAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	addr, handed := h1Server(t)
	conn := dial(t, addr, time.Minute)
	r := bufio.NewReaderSize(conn, 64<<10)
	for _, target := range []string{"/pkg/app.js", "/index.html"} {
		request := "GET " + target + " HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\r\n"
		if allocs := allocsPerRequest(t, conn, r, request, 1000); allocs != 0 {
			t.Errorf("%s: %.1f allocations per request", target, allocs)
		}
	}
	if handed.Load() != 0 {
		t.Error("the loop handed the connection over")
	}
}

// allocsPerRequest sends request on conn runs+1 times, reading each answer
// through r with skipResponse, and returns the allocations per request
// (testing.AllocsPerRun: the first round is not counted).
func allocsPerRequest(t *testing.T, conn net.Conn, r *bufio.Reader, request string, runs int) float64 {
	t.Helper()
	b := []byte(request)
	return testing.AllocsPerRun(runs, func() {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := skipResponse(r); err != nil {
			t.Fatal(err)
		}
	})
}

// A small response reaches the client only after the handler's wrappers
// have finished with it, as net/http sends what fits its buffer once the
// handler returns: a client that reads the metrics or the access log
// right after its response finds the response there. The access log here
// takes a millisecond a line, which a response sent from inside the
// handler overtakes.
func TestLoopAnswersOnceTheRequestIsAccountedFor(t *testing.T) {
	store, err := compress.Open(testFiles(), compress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var lines slowLines
	srv := New(Config{Source: store, Metrics: true, AccessLog: true, Logger: slog.New(slog.NewTextHandler(&lines, nil))})
	conn := dial(t, strings.TrimPrefix(newLoopbackServer(t, srv), "http://"), time.Minute)
	r := bufio.NewReader(conn)
	for i := 1; i <= 20; i++ {
		fmt.Fprint(conn, "GET /missing.js HTTP/1.1\r\nHost: x\r\n\r\n")
		readAnswer(t, r, "GET", "GET /missing.js")
		logged := lines.n.Load()
		counted := srv.metrics.requests[classIndex(404)][codingIndex("identity")].Load()
		if logged != int64(i) || counted != uint64(i) {
			t.Fatalf("after response %d: %d access log lines, %d responses counted", i, logged, counted)
		}
	}
}

// slowLines counts log lines, a millisecond each.
type slowLines struct{ n atomic.Int64 }

func (l *slowLines) Write(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	l.n.Add(1)
	return len(p), nil
}
