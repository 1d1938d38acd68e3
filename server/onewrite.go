package server

import (
	"net/http"
	"sync"
)

// A response from memory leaves in one system call. brisk's own loop
// (h1.go) writes head and body together by itself; this is for the
// connections net/http serves, those the loop handed over. net/http writes a
// response's head into a 4 KiB buffer, so a body of more than about 4 KiB
// goes out in two writes at least: the buffer, then the rest. Each is a
// system call, and on a fast link a packet and a wake-up of the client:
// for JS glue and CSS, 4 to 64 KiB, that doubles the cost of a response.
// While a handler holds its connection (clientConn), writes collect there,
// and release sends them with one writev.

func (c *clientConn) Write(p []byte) (int, error) {
	if !c.holding {
		return c.TCPConn.Write(p)
	}
	if n := len(p); n > 0 && n <= len(c.body) && &p[0] == &c.body[len(c.body)-n] {
		c.pending = append(c.pending, p) // the body's tail, written straight through
		return n, nil
	}
	if c.scratch == nil {
		c.scratch = scratchPool.Get().(*[]byte)
	}
	start := len(*c.scratch)
	if start+len(p) > cap(*c.scratch) {
		// More than net/http buffers around a body: send what is held.
		if err := c.flushHeld(); err != nil {
			return 0, err
		}
		return c.TCPConn.Write(p)
	}
	*c.scratch = append(*c.scratch, p...)
	c.pending = append(c.pending, (*c.scratch)[start:])
	return len(p), nil
}

// hold starts collecting the writes of a response whose body is body.
func (c *clientConn) hold(body []byte) {
	c.holding, c.body = true, body
}

// release sends what was collected, in one system call.
func (c *clientConn) release() error {
	err := c.flushHeld()
	c.holding, c.body = false, nil
	if c.scratch != nil {
		*c.scratch = (*c.scratch)[:0]
		scratchPool.Put(c.scratch)
		c.scratch = nil
	}
	return err
}

func (c *clientConn) flushHeld() error {
	if len(c.pending) == 0 {
		return nil
	}
	bufs := c.pending
	_, err := bufs.WriteTo(c.TCPConn)
	clear(c.pending)
	c.pending = c.pending[:0]
	if c.scratch != nil {
		*c.scratch = (*c.scratch)[:0]
	}
	return err
}

// scratchPool holds room for what net/http buffers around one body: its
// 4 KiB connection buffer, flushed before the body and after it.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// sendInOneWrite writes a response's head and body from memory with one
// system call where the connection allows it, and with net/http's writes
// otherwise.
func sendInOneWrite(w http.ResponseWriter, r *http.Request, status int, body []byte) error {
	var oc *clientConn
	if len(body) >= minOneWrite && r.ProtoMajor == 1 {
		oc = connOf(r)
	}
	if oc == nil {
		w.WriteHeader(status)
		_, err := w.Write(body)
		return err
	}
	oc.hold(body)
	w.WriteHeader(status)
	_, err := w.Write(body)
	if f, ok := w.(http.Flusher); ok && err == nil {
		f.Flush()
	}
	if rerr := oc.release(); err == nil {
		err = rerr
	}
	return err
}

// minOneWrite is the smallest body worth holding for: below it, head and
// body fit net/http's buffer and leave in one write anyway.
const minOneWrite = 3 << 10
