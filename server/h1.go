package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// brisk answers plain HTTP/1.1 requests for the site's files itself, and
// gives net/http every connection it does not fully understand.
//
// net/http costs a static server about 40 % of its rate: per request it
// allocates the request, its header and URL, a context and a response,
// starts a goroutine that watches for the client closing, and sorts the
// response's header keys. A loop that reads a head, parses it in place and
// answers from the snapshot with one writev serves the same files at about
// nginx's rate (see the README's benchmarks).
//
// The loop keeps to a strict subset of HTTP/1.1: GET or HEAD, origin-form
// targets without percent-encoding, exactly one Host, no body and nothing
// that announces one, no upgrades, no line folding. At the first request
// outside that subset, or one brisk would forward to the upstream or
// stream, it hands the connection to net/http with the request unread, and
// net/http serves the connection from then on: h2c, request bodies,
// proxying, WebSockets, event streams, and every malformed or ambiguous
// head, which net/http refuses as it always did. The handlers are the same
// on both paths; only the reading of heads and the writing of responses
// differ.

// h1Conn is one connection served by the loop.
type h1Conn struct {
	s    *Server
	c    *clientConn
	buf  []byte // read and not yet answered: the next head, and any pipelined after it
	ctx  context.Context
	stop context.CancelFunc
	// The request, reused for every one: a client on a keep-alive
	// connection sends the same head again and again (a browser's asset
	// requests differ in the target only, wrk's not at all), and when it
	// does, the parse is reused as well.
	head   string
	req    *http.Request
	header http.Header
	values []string // backing store of header's values
	w      h1Response
	sealed sealedSend
}

// h1BufSize bounds the heads the loop reads, and is what an idle
// connection keeps: net/http's read buffer is as large. A browser's head,
// cookies included, fits; a longer one goes to net/http, which applies
// MaxHeaderBytes.
const h1BufSize = 4 << 10

// serveH1 serves c, which the connection tracker knows as new, until it
// closes or is handed to net/http.
func (s *Server) serveH1(c *clientConn) {
	hc := newH1Conn(s, c, c.RemoteAddr().String())
	handed := false
	defer func() {
		hc.stop()
		if handed {
			return
		}
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			s.log.Error("panic serving connection", "panic", v)
		}
		c.Close()
		s.connState(c, http.StateClosed)
	}()
	handed = hc.serve()
}

func newH1Conn(s *Server, c *clientConn, remoteAddr string) *h1Conn {
	hc := &h1Conn{s: s, c: c, buf: make([]byte, 0, h1BufSize), header: http.Header{}}
	hc.ctx, hc.stop = context.WithCancel(context.Background())
	hc.req = (&http.Request{
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hc.header, Body: http.NoBody, URL: new(url.URL),
		RemoteAddr: remoteAddr,
	}).WithContext(hc.ctx)
	hc.w.conn = hc
	hc.w.header = http.Header{}
	return hc
}

// serve answers requests until the connection ends (false) or is handed to
// net/http (true).
func (hc *h1Conn) serve() (handed bool) {
	first := true
	for {
		end, ok := hc.readHead(first)
		if !ok {
			return false
		}
		first = false
		if end < 0 || !hc.parse(hc.buf[:end]) || !hc.s.answersOnItsOwn(hc.req) {
			return hc.handOver()
		}
		hc.s.connState(hc.c, http.StateActive)
		keep := hc.answer()
		hc.s.connState(hc.c, http.StateIdle)
		if !keep {
			hc.closeGently()
			return false
		}
		hc.buf = hc.buf[:copy(hc.buf, hc.buf[end:])]
	}
}

// readHead reads until buf holds a whole head, and returns where it ends;
// -1 means the bytes are not a request the loop answers (net/http gets
// them). ok is false when the connection ended or timed out first. The
// client has idleTimeout to start a head (readHeaderTimeout for the first
// of a connection) and readHeaderTimeout from its first byte to finish it.
func (hc *h1Conn) readHead(first bool) (end int, ok bool) {
	started := len(hc.buf) > 0 // pipelined
	wait := idleTimeout
	if first || started {
		wait = readHeaderTimeout
	}
	deadline := time.Now().Add(wait)
	if err := hc.c.SetReadDeadline(deadline); err != nil {
		return 0, false
	}
	for {
		end := bytes.Index(hc.buf, crlfcrlf)
		switch {
		case bareLF(hc.buf, end):
			return -1, true
		case end >= 0:
			return end + 4, true
		case !plausibleStart(hc.buf) || len(hc.buf) == cap(hc.buf):
			return -1, true
		}
		if !started && len(hc.buf) > 0 {
			started = true
			if err := hc.c.SetReadDeadline(time.Now().Add(readHeaderTimeout)); err != nil {
				return 0, false
			}
		}
		n, err := hc.c.Read(hc.buf[len(hc.buf):cap(hc.buf)])
		hc.buf = hc.buf[:len(hc.buf)+n]
		if n == 0 && err != nil {
			return 0, false
		}
	}
}

var crlfcrlf = []byte("\r\n\r\n")

// bareLF reports whether a line of the head read so far ends in LF alone,
// which net/http reads as the end of a line and the loop does not; end is
// where the head ends, or -1 if it has not yet.
func bareLF(b []byte, end int) bool {
	if end >= 0 {
		b = b[:end]
	}
	for i := bytes.IndexByte(b, '\n'); i >= 0; {
		if i == 0 || b[i-1] != '\r' {
			return true
		}
		next := bytes.IndexByte(b[i+1:], '\n')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}

// plausibleStart reports whether b can begin a head the loop answers; the
// first bytes of anything else (h2c's preface, a POST, a TLS handshake
// sent to the plain port) go to net/http at once.
func plausibleStart(b []byte) bool {
	for _, m := range []string{"GET /", "HEAD /"} {
		n := min(len(b), len(m))
		if string(b[:n]) == m[:n] {
			return true
		}
	}
	return false
}

// handOver gives the connection to net/http with what was read of it still
// to read.
func (hc *h1Conn) handOver() bool {
	hc.c.replay, hc.c.handedOver = hc.buf, true
	if err := hc.c.SetReadDeadline(time.Time{}); err != nil {
		return false
	}
	hc.s.handToNetHTTP(hc.c)
	return true
}

// handToNetHTTP has net/http serve c from now on. net/http serves one
// connection per listener here: Serve returns after the second Accept, and
// the connection's goroutine goes on.
func (s *Server) handToNetHTTP(c net.Conn) {
	ln := &oneConnListener{conn: c, addr: c.LocalAddr(), taken: make(chan struct{})}
	go func() {
		_ = s.http.Serve(ln)
		if !ln.wasTaken() {
			// The server closed before it took the connection.
			c.Close()
			s.connState(c, http.StateClosed)
		}
	}()
}

// oneConnListener yields one connection, then reports itself closed.
type oneConnListener struct {
	conn  net.Conn
	addr  net.Addr
	taken chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case <-l.taken:
		return nil, net.ErrClosed
	default:
		close(l.taken)
		return l.conn, nil
	}
}

func (l *oneConnListener) wasTaken() bool { return isClosed(l.taken) }

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.addr }

// parse reads a head into the request, or reports that net/http must. A
// head the same as the last one leaves the request as it was.
func (hc *h1Conn) parse(b []byte) bool {
	if string(b) == hc.head {
		return true
	}
	hc.head = ""
	clear(hc.header)
	head := string(b) // the one allocation: names and values are parts of it
	line, fields, _ := strings.Cut(head[:len(head)-4], "\r\n")
	method, target, ok := parseRequestLine(line)
	if !ok {
		return false
	}
	var host string
	var closing bool
	if hc.values, host, closing, ok = parseFields(fields, hc.header, hc.values[:0]); !ok {
		return false
	}
	r := hc.req
	r.Method, r.RequestURI, r.Host, r.Close = method, target, host, closing
	path, query, asked := strings.Cut(target, "?")
	*r.URL = url.URL{Path: path, RawQuery: query, ForceQuery: asked && query == ""}
	hc.head = head
	return true
}

// parseRequestLine accepts "GET" or "HEAD", an origin-form target whose
// path needs no decoding or escaping and whose query is visible ASCII, and
// HTTP/1.1.
func parseRequestLine(line string) (method, target string, ok bool) {
	method, rest, _ := strings.Cut(line, " ")
	if method != http.MethodGet && method != http.MethodHead {
		return "", "", false
	}
	target, ok = strings.CutSuffix(rest, " HTTP/1.1")
	if !ok || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") {
		return "", "", false
	}
	path, query, _ := strings.Cut(target, "?")
	for i := 0; i < len(path); i++ {
		if !isAlnumASCII(path[i]) && !strings.ContainsRune(pathSafe, rune(path[i])) {
			return "", "", false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return "", "", false
		}
	}
	return method, target, true
}

// pathSafe are the characters besides letters and digits that a path
// keeps as they are when net/url escapes it, so that the URL the loop
// makes has no RawPath, as net/http's would not.
const pathSafe = "-._~$&+,/:;=@"

// parseFields adds the header fields of a head to h, their values kept in
// values; it refuses (ok false) what net/http must judge: folded lines,
// names that are not tokens, control characters in values, a missing or
// repeated Host, and every field that announces a body, an upgrade or an
// expectation.
func parseFields(fields string, h http.Header, values []string) (_ []string, host string, closing, ok bool) {
	hosts := 0
	for fields != "" {
		var line string
		line, fields, _ = strings.Cut(fields, "\r\n")
		name, value, found := strings.Cut(line, ":")
		if !found || !validFieldName(name) {
			return values, "", false, false
		}
		value = strings.Trim(value, " \t")
		if !validFieldValue(value) {
			return values, "", false, false
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Host":
			if hosts++; hosts > 1 || !validHost(value) {
				return values, "", false, false
			}
			host = value
			continue // net/http moves it to Request.Host
		case "Connection":
			for token := range strings.SplitSeq(value, ",") {
				switch strings.ToLower(strings.TrimSpace(token)) {
				case "close":
					closing = true
				case "keep-alive", "":
				default:
					return values, "", false, false
				}
			}
		case "Content-Length", "Transfer-Encoding", "Expect", "Upgrade", "Http2-Settings", "Trailer":
			return values, "", false, false
		}
		values = append(values, value)
		if old := h[key]; old != nil {
			h[key] = append(old, value)
		} else {
			h[key] = values[len(values)-1 : len(values) : len(values)]
		}
	}
	return values, host, closing, hosts == 1
}

// validHost admits the host names, IPv4 and bracketed IPv6 addresses and
// ports that clients send, and nothing net/http might judge otherwise.
func validHost(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnumASCII(c) && !strings.ContainsRune(".-:[]_", rune(c)) {
			return false
		}
	}
	return true
}

// answersOnItsOwn reports whether the loop answers r, rather than
// net/http: anything but the live-reload stream when there is no upstream;
// with one, only brisk's own paths and the site's files.
func (s *Server) answersOnItsOwn(r *http.Request) bool {
	p := r.URL.Path
	switch {
	case p == LiveReloadPath:
		return false
	case s.proxy == nil || p == HealthPath:
		return true
	}
	_, name, status, inside := s.siteName(p)
	if !inside || status != 0 {
		return false
	}
	_, ok := s.cfg.Source.Snapshot().Lookup(name)
	return ok
}

// netHTTPState is the http.Server's ConnState hook. A connection the loop
// handed over is new to net/http, but not to brisk.
func (s *Server) netHTTPState(c net.Conn, st http.ConnState) {
	if cc, ok := c.(*clientConn); ok && cc.handedOver && st == http.StateNew {
		return
	}
	s.connState(c, st)
}

// stoppingNow reports whether Shutdown has begun.
func (s *Server) stoppingNow() bool { return isClosed(s.stopping) }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// answer runs the handlers for the request read, and reports whether the
// connection stays open for another.
func (hc *h1Conn) answer() (keep bool) {
	w := &hc.w
	w.reset(hc.req.Method == http.MethodHead, hc.req.Close || hc.s.stoppingNow())
	hc.s.ServeHTTP(w, hc.req)
	w.finish()
	if w.deadline {
		_ = hc.c.SetWriteDeadline(time.Time{})
	}
	return w.err == nil && !w.closing
}

// closeGently ends a connection after its last response: it stops sending,
// then reads until the client closes too (or half a second passes), so
// that bytes the client sent meanwhile do not make the kernel reset the
// connection before the client has read the response.
func (hc *h1Conn) closeGently() {
	if err := hc.c.CloseWrite(); err != nil {
		return
	}
	_ = hc.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, _ = io.Copy(io.Discard, hc.c.TCPConn)
}
