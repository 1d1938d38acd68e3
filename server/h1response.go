package server

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// h1Response is the loop's ResponseWriter. It writes what net/http would
// for the same calls (status line, the handler's header, Date,
// Content-Length, Connection: close when the connection ends) with these
// differences: a body of declared length leaves with its head in one
// writev, once the handler returns if it is short (see holding); a body of
// undeclared length is held and sent with its length, never chunked, since
// the loop answers no streams; header keys are not sorted. It is reused
// for every request of its connection.
type h1Response struct {
	conn     *h1Conn
	header   http.Header
	headOnly bool  // a HEAD: the body is counted, not sent
	closing  bool  // the connection ends after this response
	status   int   // the final status; 0 until written
	sent     bool  // the head has gone out
	declared int64 // the Content-Length the handler set, or -1
	written  int64 // body bytes the handler wrote
	held     []byte
	head     []byte
	bufs     net.Buffers
	slots    [2][]byte // bufs' room, kept here so that writing allocates nothing
	deadline bool      // the handler set a write deadline
	err      error     // the first write that failed
	// Date, formatted once a second.
	dateSec int64
	date    []byte
}

func (w *h1Response) reset(headOnly, closing bool) {
	clear(w.header)
	w.headOnly, w.closing = headOnly, closing
	w.status, w.sent, w.declared, w.written = 0, false, -1, 0
	w.held, w.head = w.held[:0], w.head[:0]
	if cap(w.held) > maxHeld {
		w.held = nil // an unusually large body: not kept for the connection's life
	}
	w.deadline, w.err = false, nil
}

// maxHeld is the most room for undeclared bodies a connection keeps.
const maxHeld = 64 << 10

func (w *h1Response) Header() http.Header { return w.header }

func (w *h1Response) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		// Sent at once, with the header as it is, which stays for the
		// final response (RFC 8297).
		w.head = w.appendHead(w.head[:0], code)
		w.send(nil)
		return
	}
	w.status = code
	if cl, ok := w.header["Content-Length"]; ok && len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			w.declared = n
		}
	}
	if w.declared < 0 {
		delete(w.header, "Content-Length")
	}
	if hasToken(w.header["Connection"], "close") {
		w.closing = true
	}
}

func (w *h1Response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.err != nil:
		return 0, w.err
	case !bodyAllowedForStatus(w.status):
		return 0, http.ErrBodyNotAllowed
	case w.declared >= 0 && w.written+int64(len(p)) > w.declared:
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	switch {
	case w.headOnly:
	case w.holding():
		w.held = append(w.held, p...)
	default:
		w.send(p)
	}
	return len(p), w.err
}

// holding reports whether written bytes wait for finish: those of a body
// of undeclared length, and, as net/http keeps what fits its buffer until
// the handler returns, a short body's. So the wrappers around the handler
// (metrics, the access log, the idle clock) are done with a short response
// before its client has it.
func (w *h1Response) holding() bool {
	return !w.sent && (w.declared < 0 || w.declared <= holdUpTo)
}

// holdUpTo is the longest declared body held until finish: net/http's
// buffer.
const holdUpTo = 4 << 10

// streaming reports whether body bytes written now go straight to the
// connection, as sendfile can send them: a body that is sent and not held.
func (w *h1Response) streaming() bool {
	return !w.headOnly && !w.holding() && bodyAllowedForStatus(w.status)
}

// ReadFrom keeps sendfile for bodies on disk.
func (w *h1Response) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil || !w.streaming() {
		return io.Copy(struct{ io.Writer }{w}, src)
	}
	if !w.sent {
		if w.send(nil); w.err != nil {
			return 0, w.err
		}
	}
	// Limited as the declared length allows; a reader already limited
	// to that stays as it is, or sendfile would not see its file.
	if lr, ok := src.(*io.LimitedReader); !ok || lr.N > w.declared-w.written {
		src = io.LimitReader(src, w.declared-w.written)
	}
	n, err := w.conn.c.TCPConn.ReadFrom(src)
	w.written += n
	if err != nil {
		w.err = err
	}
	return n, err
}

// Flush sends the head of a response whose length is declared, with what
// is held of its body; the rest goes out as it is written.
func (w *h1Response) Flush() {
	if w.status != 0 && w.declared >= 0 && !w.sent {
		w.send(w.held)
		w.held = w.held[:0]
	}
}

func (w *h1Response) SetWriteDeadline(t time.Time) error {
	w.deadline = true
	return w.conn.c.SetWriteDeadline(t)
}

// finish completes the response after the handlers return.
func (w *h1Response) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		if w.declared < 0 && bodyAllowedForStatus(w.status) && (!w.headOnly || w.written > 0) {
			w.header["Content-Length"] = []string{strconv.FormatInt(w.written, 10)}
			if _, typed := w.header["Content-Type"]; !typed && len(w.held) > 0 && first(w.header, "Content-Encoding") == "" {
				w.header["Content-Type"] = []string{http.DetectContentType(w.held)}
			}
			w.declared = w.written
		}
		w.send(w.held)
	}
	if w.declared >= 0 && w.written != w.declared && !w.headOnly && bodyAllowedForStatus(w.status) {
		// The client counts on bytes that will not come.
		w.closing = true
	}
}

// send writes the head, if it has not gone out, and p, in one system call.
func (w *h1Response) send(p []byte) {
	if w.err != nil {
		return
	}
	if w.status != 0 && !w.sent {
		w.head = w.appendHead(w.head[:0], w.status)
		w.sent = true
	}
	w.bufs = append(w.slots[:0], w.head, p) // WriteTo consumes w.bufs, not slots
	w.head = w.head[:0]
	if _, err := w.bufs.WriteTo(w.conn.c.TCPConn); err != nil {
		w.err = err
	}
	clear(w.slots[:])
}

// appendHead appends a status line and the header as net/http would write
// them for an HTTP/1.1 request.
func (w *h1Response) appendHead(b []byte, status int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if text := http.StatusText(status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(status), 10)
	}
	b = append(b, "\r\n"...)
	final := status >= 200
	for k, vs := range w.header {
		if !validFieldName(k) || withheld(k, status, final && w.closing) {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			if strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0 {
				v = newlineToSpace.Replace(v)
			}
			b = append(b, strings.TrimSpace(v)...)
			b = append(b, "\r\n"...)
		}
	}
	if final {
		if _, ok := w.header["Date"]; !ok {
			b = append(b, "Date: "...)
			b = append(b, w.httpDate()...)
			b = append(b, "\r\n"...)
		}
		if w.closing {
			b = append(b, "Connection: close\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}

// newlineToSpace keeps a header value on its line, as net/http does.
var newlineToSpace = strings.NewReplacer("\r", " ", "\n", " ")

// withheld reports the header fields a response with this status does not
// carry, as net/http leaves them out: no length or framing on responses
// without a body, no type on a 304, and the loop's own Connection when it
// closes.
func withheld(key string, status int, closing bool) bool {
	switch key {
	case "Transfer-Encoding", "Trailer":
		return true
	case "Content-Length":
		return !bodyAllowedForStatus(status)
	case "Content-Type":
		return status == http.StatusNotModified
	case "Connection":
		return closing
	}
	return false
}

func (w *h1Response) httpDate() []byte {
	now := time.Now()
	if sec := now.Unix(); sec != w.dateSec || w.date == nil {
		w.dateSec = sec
		w.date = now.UTC().AppendFormat(w.date[:0], http.TimeFormat)
	}
	return w.date
}

// bodyAllowedForStatus is net/http's rule: no body on 1xx, 204 or 304.
func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}
