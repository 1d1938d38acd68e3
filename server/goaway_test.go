package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/brisk-server/brisk/compress"
)

// h2Client speaks HTTP/2 with prior knowledge frame by frame, so that a
// test sees what a library client hides: GOAWAY, its last stream, and how
// the connection ends. It never grants flow-control window by itself.
type h2Client struct {
	t    *testing.T
	conn net.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	henc *hpack.Encoder
	addr string
}

func dialH2C(t *testing.T, addr string) *h2Client {
	t.Helper()
	conn := dial(t, addr, 20*time.Second)
	c := &h2Client{t: t, conn: conn, fr: http2.NewFramer(conn, conn), addr: addr}
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// get opens stream id with a GET of path.
func (c *h2Client) get(id uint32, path string) {
	c.t.Helper()
	c.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", c.addr}, {":path", path}} {
		_ = c.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
}

// h2Event is what one frame from the server meant.
type h2Event struct {
	goAway    *http2.GoAwayFrame
	status    string // of a response's HEADERS
	data      int
	endStream bool
	err       error // the connection ended (io.EOF when closed cleanly)
}

// next reads frames until one that matters to the test, answering the
// server's SETTINGS and PINGs on the way.
func (c *h2Client) next() h2Event {
	c.t.Helper()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return h2Event{err: err}
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = c.fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			return h2Event{goAway: f}
		case *http2.MetaHeadersFrame:
			return h2Event{status: f.PseudoValue("status"), endStream: f.StreamEnded()}
		case *http2.DataFrame:
			return h2Event{data: len(f.Data()), endStream: f.StreamEnded()}
		case *http2.RSTStreamFrame:
			c.t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
		}
	}
}

// body reads the rest of stream id's response, granting window as data
// arrives, and returns how many bytes came; a GOAWAY on the way is
// returned too.
func (c *h2Client) body(id uint32) (n int, goAway *http2.GoAwayFrame) {
	c.t.Helper()
	for {
		ev := c.next()
		switch {
		case ev.err != nil:
			c.t.Fatalf("connection ended after %d bytes of stream %d: %v", n, id, ev.err)
		case ev.goAway != nil:
			goAway = ev.goAway
		case ev.data > 0:
			n += ev.data
			_ = c.fr.WriteWindowUpdate(0, uint32(ev.data))
			_ = c.fr.WriteWindowUpdate(id, uint32(ev.data))
		}
		if ev.endStream {
			return n, goAway
		}
	}
}

// closed reads until the server ends the connection, and fails on any
// response on the way.
func (c *h2Client) closed() {
	c.t.Helper()
	for {
		ev := c.next()
		switch {
		case ev.err != nil:
			if !errors.Is(ev.err, io.EOF) && !errors.Is(ev.err, net.ErrClosed) {
				c.t.Logf("connection ended with %v", ev.err)
			}
			return
		case ev.goAway != nil:
			c.t.Fatalf("a second GOAWAY: %v", ev.goAway)
		default:
			c.t.Fatalf("unexpected frame after GOAWAY: %+v", ev)
		}
	}
}

func goAwayServer(t *testing.T, files fstest.MapFS) (*Server, string, <-chan error) {
	t.Helper()
	store, err := compress.Open(files, compress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Source: store})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	return srv, ln.Addr().String(), served
}

func shutdown(srv *Server) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	return done
}

// Stopping tells every HTTP/2 connection to go away (GOAWAY, no error,
// naming the last stream it took) before it closes: an idle one at once,
// and one with a stream in flight while that stream is still sending, which
// is then answered whole. Closing a connection without GOAWAY leaves its
// client unsure whether a request it just sent was processed.
func TestHTTP2ShutdownSendsGoAway(t *testing.T) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	srv, addr, served := goAwayServer(t, fstest.MapFS{"big.png": {Data: big}, "small.png": {Data: []byte("small")}})

	idle := dialH2C(t, addr)
	idle.get(1, "/small.png")
	if ev := idle.next(); ev.status != "200" {
		t.Fatalf("idle connection's request: %+v", ev)
	}
	if n, _ := idle.body(1); n != len("small") {
		t.Fatalf("idle connection's response: %d bytes", n)
	}

	// The server sends until the initial window (64 KiB) is used up and
	// then waits for more, which this client grants only later.
	busy := dialH2C(t, addr)
	busy.get(1, "/big.png")
	if ev := busy.next(); ev.status != "200" {
		t.Fatalf("busy connection's request: %+v", ev)
	}

	done := shutdown(srv)
	before := 0 // what the busy stream sent before it was held back
	for _, c := range []struct {
		name string
		conn *h2Client
	}{{"idle", idle}, {"busy", busy}} {
		ev := c.conn.next()
		for ev.data > 0 && !ev.endStream {
			before += ev.data
			ev = c.conn.next()
		}
		if ev.goAway == nil || ev.goAway.ErrCode != http2.ErrCodeNo || ev.goAway.LastStreamID != 1 {
			t.Fatalf("%s connection: got %+v, want GOAWAY with no error and last stream 1", c.name, ev)
		}
	}
	// The stream in flight is answered whole once it gets window again.
	_ = busy.fr.WriteWindowUpdate(0, uint32(before))
	_ = busy.fr.WriteWindowUpdate(1, uint32(before))
	if n, _ := busy.body(1); before+n != len(big) {
		t.Errorf("busy stream: %d bytes, then %d after the GOAWAY; want %d in all", before, n, len(big))
	}
	idle.closed()
	busy.closed()
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// A connection that has sent the HTTP/2 preface but no request yet when
// brisk stops (a client that connected just before) still gets its first
// request answered: a GOAWAY at once would name no stream, and its request
// would be turned away.
func TestHTTP2ShutdownAnswersFirstRequest(t *testing.T) {
	page := []byte("<h1>first</h1>")
	srv, addr, served := goAwayServer(t, fstest.MapFS{"index.html": {Data: page}})
	young := dialH2C(t, addr)
	// Wait until the server has taken the preface: from then on a
	// GOAWAY to all would reach this connection.
	ready := time.Now().Add(10 * time.Second)
	for !srv.hasHTTP2Conn() {
		if time.Now().After(ready) {
			t.Fatal("the server did not take the HTTP/2 connection")
		}
		time.Sleep(time.Millisecond)
	}
	done := shutdown(srv)
	// Stopping has shut the listener once a new connection is refused;
	// only then does the request go out.
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(time.Millisecond)
	}
	young.get(1, "/")
	var goAway *http2.GoAwayFrame
	for {
		ev := young.next()
		if ev.err != nil {
			t.Fatalf("connection ended before the response: %v", ev.err)
		}
		if ev.goAway != nil {
			goAway = ev.goAway
			if goAway.LastStreamID < 1 {
				t.Fatalf("GOAWAY names last stream %d: the request was turned away", goAway.LastStreamID)
			}
			continue
		}
		if ev.status != "" {
			if ev.status != "200" {
				t.Fatalf("status %s", ev.status)
			}
			break
		}
	}
	if n, g := young.body(1); n != len(page) {
		t.Errorf("response %d bytes, want %d", n, len(page))
	} else if g != nil {
		goAway = g
	}
	if goAway == nil {
		if ev := young.next(); ev.goAway == nil {
			t.Errorf("no GOAWAY after the response: %+v", ev)
		}
	}
	young.closed()
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// hasHTTP2Conn reports whether an HTTP/2 connection has been taken over by
// the HTTP/2 server and has read its client's preface.
func (s *Server) hasHTTP2Conn() (found bool) {
	s.conns.conns.Range(func(_, v any) bool {
		cs := v.(*connState)
		found = cs.http2.Load() && cs.idled.Load()
		return !found
	})
	return found
}
