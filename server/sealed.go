package server

import (
	"errors"
	"net/http"
	"sync/atomic"
	"syscall"
)

// A large body in memory has a sealed copy (compress.Representation.
// Sealed) that the loop sends with sendfile: the kernel then takes the
// bytes from that file's pages instead of copying them out of the process
// first. The copy is shared by every connection, each reading at its own
// offset, and kept open by the kernel call while it lasts. net/http's
// writers (HTTP/2, TLS, handed-over connections) write from memory as
// before.

// sealedSender is a ResponseWriter that can send a body from a sealed
// file: the loop's.
type sealedSender interface {
	// SendSealed sends n bytes of the file from off after the head,
	// and reports how many went out; errUnsent means none did, nor
	// the head, and the caller writes the body itself.
	SendSealed(file syscall.RawConn, off, n int64) (int64, error)
}

var errUnsent = errors.New("not sent from the sealed file")

// sealedSends counts the bodies sent whole from sealed copies, which tells
// tests that the path was taken.
var sealedSends atomic.Int64

// sendsSealed reports whether w can send from a sealed file, so that a
// sealed copy is made only for responses that use it.
func sendsSealed(w http.ResponseWriter) bool {
	if o, ok := w.(*observed); ok {
		w = o.ResponseWriter
	}
	_, ok := w.(sealedSender)
	return ok
}

// SendSealed passes the body on to the loop's writer, counting it.
func (o *observed) SendSealed(file syscall.RawConn, off, n int64) (int64, error) {
	ss, ok := o.ResponseWriter.(sealedSender)
	if !ok {
		return 0, errUnsent
	}
	if o.status == 0 {
		o.committed(http.StatusOK)
	}
	sent, err := ss.SendSealed(file, off, n)
	o.bytes += sent
	return sent, err
}

// SendSealed sends the head, if it has not gone out, and n bytes of the
// file from off, unless the response is one whose body it holds or does
// not send.
func (w *h1Response) SendSealed(file syscall.RawConn, off, n int64) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.err != nil:
		return 0, w.err
	case !w.streaming() || w.written+n > w.declared:
		return 0, errUnsent
	}
	var head []byte
	if !w.sent {
		w.head = w.appendHead(w.head[:0], w.status) // its room is kept for the next
		head = w.head
	}
	sent, headSent, err := w.conn.sendSealed(head, file, off, n)
	if headSent {
		w.sent, w.head = true, w.head[:0]
	}
	w.written += sent
	switch {
	case err == nil:
		sealedSends.Add(1)
	case err != errUnsent:
		w.err = err
	}
	return sent, err
}
