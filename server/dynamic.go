package server

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/brisk-server/brisk/compress"
)

// Responses from the upstream (the Leptos SSR server) are not files brisk
// could have compressed ahead, yet they must arrive compressed: Fly's
// proxy compresses any response without a Content-Encoding, and buffers
// the whole body to do it, so a streamed page would reach the browser all
// at once, at the end. brisk encodes them itself, as they stream.
const (
	// minDynamicSize: a body known to be smaller gains too little to be
	// worth an encoder (the same threshold as for files).
	minDynamicSize = compress.DefaultMinSize
	// maxDynamicStreams bounds the encoders in use at once, and so their
	// memory (about 2 MiB each, see compress.StreamCoding); a response
	// beyond it passes uncompressed.
	maxDynamicStreams = 32
)

// serveUpstream proxies the request and encodes the answer on its way when
// encodingFor says so.
func (s *Server) serveUpstream(w http.ResponseWriter, r *http.Request) {
	if len(s.cfg.StreamCodings) == 0 {
		s.proxy.ServeHTTP(w, r)
		return
	}
	ew := &encodingWriter{ResponseWriter: w, s: s, r: r}
	completed := false
	defer func() { ew.finish(completed) }()
	s.proxy.ServeHTTP(ew, r)
	completed = true
}

// encodingWriter sits between the reverse proxy and the client: when the
// upstream's status and headers arrive it decides whether to encode, and
// then encodes the body as the proxy copies it, flushing the encoder
// whenever the proxy flushes, which it does after every piece the
// upstream sends. So a page streamed in pieces arrives in pieces,
// compressed.
type encodingWriter struct {
	http.ResponseWriter
	s       *Server
	r       *http.Request
	enc     *compress.StreamEncoder // nil: the body passes as it is
	decided bool
}

func (w *encodingWriter) WriteHeader(status int) {
	if status < 200 || w.decided { // 1xx go through as they come
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.decided = true
	h := w.Header()
	coding, varies := w.s.encodingFor(w.r, status, h)
	if varies {
		addVary(h, valAcceptEncoding)
	}
	body := status != http.StatusNotModified && w.r.Method != http.MethodHead
	if coding != nil && body {
		if w.s.acquireEncoder() {
			w.enc = coding.NewEncoder(w.ResponseWriter)
		} else {
			// Every encoder is busy: this one passes as it came, headers
			// and all.
			coding = nil
			w.s.log.Debug("upstream response not compressed: all encoders busy", "path", w.r.URL.Path)
		}
	}
	if coding != nil { // a body encoded, or a HEAD or 304 that speaks for one
		weakenETag(h)
		if status != http.StatusNotModified {
			h.Del("Content-Length")
			h.Del("Accept-Ranges") // of the upstream's bytes, not these
			h["Content-Encoding"] = []string{coding.Name}
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *encodingWriter) Write(p []byte) (int, error) {
	if !w.decided {
		w.WriteHeader(http.StatusOK)
	}
	if w.enc != nil {
		return w.enc.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// FlushError flushes the encoder, then the connection: net/http's
// ResponseController, which the reverse proxy flushes through, prefers it
// to Flush.
func (w *encodingWriter) FlushError() error {
	if w.enc != nil {
		if err := w.enc.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *encodingWriter) Flush() { _ = w.FlushError() }

// Unwrap gives the reverse proxy the connection's own writer, for what
// this one does not do: hijacking a WebSocket upgrade, deadlines.
func (w *encodingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish ends the encoded body when the proxy completed the response, or
// drops the encoder when it gave up midway (the client or the upstream
// went away), and frees its slot.
func (w *encodingWriter) finish(completed bool) {
	if w.enc == nil {
		return
	}
	if completed {
		if err := w.enc.Close(); err != nil {
			w.s.log.Debug("finish encoded upstream response", "path", w.r.URL.Path, "err", err)
		}
	} else {
		w.enc.Abandon()
	}
	w.enc = nil
	w.s.releaseEncoder()
}

// encodingFor decides for an upstream response, by its status and headers,
// which coding brisk encodes it with (nil: none), and whether the answer
// varies with Accept-Encoding. brisk encodes a response that the upstream
// left unencoded, that has a body of a compressible type not known to be
// tiny, that is not a part of something (206), and that allows
// transformation; the coding is the one negotiation picks among the
// stream codings, as for files. A 304 gets the validators the 200 would
// have, so that caches can match them.
func (s *Server) encodingFor(r *http.Request, status int, h http.Header) (coding *compress.StreamCoding, varies bool) {
	switch {
	case len(h["Content-Encoding"]) > 0,
		status == http.StatusNoContent || status == http.StatusPartialContent,
		hasToken(h.Values("Cache-Control"), "no-transform"):
		return nil, false
	case status != http.StatusNotModified:
		if !compressibleType(h.Get("Content-Type")) {
			return nil, false
		}
		if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && n < minDynamicSize {
			return nil, false
		}
	}
	rep, ok := negotiate(r.Header["Accept-Encoding"], &identityRep, s.streamReps)
	if !ok || rep == &identityRep {
		return nil, true
	}
	return s.cfg.StreamCodings[rep.Size], true
}

// identityRep stands for an unencoded upstream response in negotiation;
// streamReps, built in New, for the stream codings, with Size the index
// into Config.StreamCodings and the order of preference as given.
var identityRep = compress.Representation{}

func streamReps(codings []*compress.StreamCoding) []compress.Representation {
	reps := make([]compress.Representation, len(codings))
	for i, c := range codings {
		reps[i] = compress.Representation{Coding: c.Name, Size: int64(i)}
	}
	return reps
}

func (s *Server) acquireEncoder() bool {
	select {
	case s.encoders <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *Server) releaseEncoder() { <-s.encoders }

// weakenETag turns a strong validator weak: the encoded bytes differ from
// the upstream's, though they mean the same (RFC 9110 §8.8.1).
func weakenETag(h http.Header) {
	if etag := h.Get("Etag"); strings.HasPrefix(etag, `"`) {
		h.Set("Etag", "W/"+etag)
	}
}

// compressibleType reports whether a response of this Content-Type is text
// of some kind, which compresses well: HTML, JSON, JavaScript, XML, SVG,
// server-sent events and the like. Anything else, or nothing, is left
// alone.
func compressibleType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/javascript", "application/xml", "application/wasm",
		"application/x-ndjson", "application/x-javascript":
		return true
	}
	return false
}
