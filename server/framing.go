package server

import (
	"bytes"
	"errors"
	"net/http"
)

// A request with both Content-Length and Transfer-Encoding is the shape of
// request smuggling: a proxy in front that frames the body by one and a
// server behind that frames it by the other disagree on where the next
// request starts. net/http serves such a request by Transfer-Encoding,
// drops Content-Length and keeps the connection, and the handler cannot
// tell it from a plain chunked one; RFC 9112 §6.1 asks a server to close
// the connection after it, and brisk, which forwards requests, refuses
// them outright. So the connection itself watches the bytes the client
// sends for a head that carries both fields (fieldScan), and forward
// refuses the request with 400 and closes the connection. It watches
// plain HTTP only: that is how a proxy in front (Fly's) reaches brisk,
// and smuggling needs one. Over TLS brisk is the front itself, the
// client's bytes reach the handler decrypted by net/http alone, and the
// reverse proxy frames what it forwards anew.

// errAmbiguousFraming refuses a request whose body length is ambiguous.
var errAmbiguousFraming = refuse(http.StatusBadRequest, errors.New("request with both Content-Length and Transfer-Encoding"))

// checkFraming refuses a request with a body on a connection that sent a
// head with both Content-Length and Transfer-Encoding; the response
// closes the connection.
func checkFraming(w http.ResponseWriter, r *http.Request) error {
	if r.TransferEncoding == nil && r.ContentLength <= 0 {
		return nil
	}
	if c := connOf(r); c != nil && c.ambiguous.Load() {
		w.Header().Set("Connection", "close")
		return errAmbiguousFraming
	}
	return nil
}

// forward hands a request that names no file to the upstream.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) error {
	if err := checkFraming(w, r); err != nil {
		return err
	}
	markUpstream(w)
	s.serveUpstream(w, r)
	return nil
}

// fieldNames are the header fields fieldScan looks for, lower case, with
// the colon: net/http refuses a space before it.
var fieldNames = [2]string{"content-length:", "transfer-encoding:"}

// fieldScan follows the bytes of a connection line by line and reports a
// message head (the lines up to a blank one) that has both fieldNames. It
// jumps from line to line with IndexByte and looks at most at the first
// 18 bytes of a line, so a request costs it a few dozen nanoseconds. It
// does not know where bodies are, so body lines are scanned as if they
// were a head: a body that holds both names in one blank-line-delimited
// block marks the connection too, which only matters if a request with a
// body follows on it.
type fieldScan struct {
	pos  int   // bytes of the current line matched so far; -1: not a line of interest
	cand uint8 // bit i: the line may still be fieldNames[i]
	seen uint8 // bit i: fieldNames[i] is in the current head
}

// feed scans p and reports whether a head with both fields ended in it.
func (f *fieldScan) feed(p []byte) (ambiguous bool) {
	for i := 0; i < len(p); {
		if f.pos < 0 {
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				return ambiguous
			}
			i += j + 1
			f.pos, f.cand = 0, 3
			continue
		}
		c := p[i]
		if f.pos == 0 && (c == '\r' || c == '\n') { // a blank line ends the head
			ambiguous = ambiguous || f.seen == 3
			f.seen = 0
			f.pos = -1
			if c == '\n' {
				f.pos, f.cand = 0, 3
			}
			i++
			continue
		}
		c = lowerASCII(c)
		for k, name := range fieldNames {
			bit := uint8(1) << k
			switch {
			case f.cand&bit == 0:
			case name[f.pos] != c:
				f.cand &^= bit
			case f.pos == len(name)-1:
				f.seen |= bit
				f.cand &^= bit
			}
		}
		f.pos++
		if f.cand == 0 {
			f.pos = -1
		}
		i++
	}
	return ambiguous
}
