package server

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
)

// clientConn is a client's connection as brisk accepts it: the bytes it
// sends are scanned for a request head with ambiguous framing
// (framing.go), and a response from memory can leave in one system call
// (onewrite.go). It embeds the TCP connection, so that net/http still
// finds sendfile (ReadFrom), splice and CloseWrite on it.
type clientConn struct {
	*net.TCPConn
	scan      fieldScan // touched by Read only, which net/http serialises
	ambiguous atomic.Bool
	// While a handler holds the connection, writes collect in pending;
	// only the goroutine that serves the request writes.
	holding bool
	body    []byte      // the handler's body: its bytes stay put, so they are kept by reference
	pending net.Buffers // what release sends
	scratch *[]byte     // copies of net/http's own buffers, which it reuses
	// replay is what brisk's own loop read before it handed the
	// connection to net/http (h1.go): Read returns it first.
	replay     []byte
	handedOver bool
}

func wrapConn(c net.Conn) net.Conn {
	if tcp, ok := c.(*net.TCPConn); ok {
		return &clientConn{TCPConn: tcp}
	}
	return c
}

func (c *clientConn) Read(p []byte) (int, error) {
	if len(c.replay) > 0 { // scanned when it was first read
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		return n, nil
	}
	n, err := c.TCPConn.Read(p)
	if n > 0 && c.scan.feed(p[:n]) {
		c.ambiguous.Store(true)
	}
	return n, err
}

type connKey struct{}

// connContext gives a request's context its connection (http.Server's
// ConnContext); once per connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*clientConn); ok {
		return context.WithValue(ctx, connKey{}, cc)
	}
	return ctx
}

// connOf returns the connection a request came on, or nil (TLS, tests
// that call the handler directly).
func connOf(r *http.Request) *clientConn {
	cc, _ := r.Context().Value(connKey{}).(*clientConn)
	return cc
}
