package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// observed is the ResponseWriter a request gets when metrics or the access
// log are on: it notes the status, coding and body bytes of the response
// on their way through. It passes on everything brisk's handlers rely on:
// 1xx responses, sendfile (ReadFrom), write deadlines, flushes for the
// proxy's streams and hijacks for its WebSocket upgrades. Instances are
// pooled, so observing allocates nothing per request.
type observed struct {
	http.ResponseWriter
	status   int      // the final status; 0 until it is written
	encoding []string // Content-Encoding of the response, as sent
	bytes    int64    // body bytes written
	upstream bool     // the upstream answered (see markUpstream)
}

var observedPool = sync.Pool{New: func() any { return new(observed) }}

// committed records the final status and the coding it goes out with.
func (o *observed) committed(code int) {
	o.status = code
	o.encoding = o.Header()["Content-Encoding"]
}

func (o *observed) WriteHeader(code int) {
	if o.status == 0 && code >= 200 {
		o.committed(code)
	}
	o.ResponseWriter.WriteHeader(code)
}

func (o *observed) Write(b []byte) (int, error) {
	if o.status == 0 {
		o.committed(http.StatusOK)
	}
	n, err := o.ResponseWriter.Write(b)
	o.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the connection's sendfile path for bodies on disk.
func (o *observed) ReadFrom(r io.Reader) (int64, error) {
	if o.status == 0 {
		o.committed(http.StatusOK)
	}
	var n int64
	var err error
	if rf, ok := o.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{o.ResponseWriter}, r)
	}
	o.bytes += n
	return n, err
}

func (o *observed) Flush() {
	if f, ok := o.ResponseWriter.(http.Flusher); ok {
		if o.status == 0 {
			o.committed(http.StatusOK)
		}
		f.Flush()
	}
}

func (o *observed) SetWriteDeadline(t time.Time) error {
	if wd, ok := o.ResponseWriter.(writeDeadliner); ok {
		return wd.SetWriteDeadline(t)
	}
	return http.ErrNotSupported
}

// Hijack is how the proxy takes over a connection for a WebSocket: the
// response is then the upstream's 101, written past this writer.
func (o *observed) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := o.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, rw, err := h.Hijack()
	if err == nil && o.status == 0 {
		o.committed(http.StatusSwitchingProtocols)
	}
	return c, rw, err
}

func (o *observed) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// observing reports whether requests go through an observed writer.
func (s *Server) observing() bool { return s.metrics != nil || s.cfg.AccessLog }

// observe wraps w for one request; the caller passes the result to
// finishObserving once the handler has returned.
func observe(w http.ResponseWriter) *observed {
	o := observedPool.Get().(*observed)
	o.ResponseWriter = w
	return o
}

// finishObserving counts the response and writes its access log line.
func (s *Server) finishObserving(o *observed, r *http.Request, began time.Time) {
	took := time.Since(began)
	if o.status == 0 { // the handler wrote nothing: net/http sends 200
		o.committed(http.StatusOK)
	}
	coding := "identity"
	if len(o.encoding) > 0 {
		coding = o.encoding[0]
	}
	if m := s.metrics; m != nil {
		m.countResponse(o.status, coding, o.bytes)
		if o.upstream {
			m.countUpstream(o.status, took)
		}
	}
	if s.cfg.AccessLog && s.log.Enabled(context.Background(), slog.LevelInfo) {
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", o.status),
			slog.String("coding", coding),
			slog.Int64("bytes", o.bytes),
			slog.Duration("duration", took),
			slog.String("client", s.clientAddr(r)))
	}
	*o = observed{}
	observedPool.Put(o)
}

// markUpstream notes that the upstream answers this request, for the
// upstream metrics.
func markUpstream(w http.ResponseWriter) {
	if o, ok := w.(*observed); ok {
		o.upstream = true
	}
}

// clientAddr is the client's IP address for the access log: the peer of
// the connection, or, when a proxy in front is trusted to say (Fly's, with
// --trust-proxy-headers), the address it reports: Fly-Client-IP, or the
// last X-Forwarded-For entry, which the proxy appended itself (entries
// before it come from the client and prove nothing).
func (s *Server) clientAddr(r *http.Request) string {
	if s.cfg.TrustProxyHeaders {
		if v := r.Header["Fly-Client-Ip"]; len(v) > 0 && v[0] != "" {
			return strings.TrimSpace(v[0])
		}
		if v := r.Header["X-Forwarded-For"]; len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if last = strings.TrimSpace(last); last != "" {
				return last
			}
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
