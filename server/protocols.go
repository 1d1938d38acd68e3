package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"slices"
)

// configureProtocols makes the server speak HTTP/1.1 and HTTP/2: over TLS
// as the client and the ALPN extension agree, and on a cleartext listener
// also HTTP/2 with prior knowledge (h2c), which is how Fly's proxy talks to
// an app that sets h2_backend, and the only way a 103 Early Hints it
// forwards reaches the browser as one.
//
// Stopping needs more than net/http offers. Its Shutdown tells HTTP/2
// clients to go away (GOAWAY) but also drops HTTP/1 requests read after it
// began, which brisk's own drain never does (see Shutdown). So the HTTP/2
// side of net/http is set up on a second http.Server, s.h2, that never
// serves a connection itself: brisk's server hands its HTTP/2 connections
// to s.h2's handlers, and s.h2.Shutdown sends every one of them GOAWAY
// while brisk drains the rest its own way. The handlers are wrapped so that
// the connection tracker knows which connections speak HTTP/2.
//
// Should net/http set up no HTTP/2 (GODEBUG=http2server=0), the server
// speaks HTTP/1.1 alone, and says so in the log.
func (s *Server) configureProtocols() {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true) // over TLS only, by ALPN
	p.SetUnencryptedHTTP2(!s.cfg.NoH2C)
	h2 := &http.Server{Protocols: p, IdleTimeout: s.http.IdleTimeout, ErrorLog: s.http.ErrorLog}
	// Serve sets up HTTP/2 support and returns at once: the listener fails.
	err := h2.Serve(failingListener{})
	if !errors.Is(err, errNoListener) || len(h2.TLSNextProto) == 0 {
		s.log.Warn("HTTP/2 is not available; serving HTTP/1.1 only", "err", err)
		p = new(http.Protocols)
		p.SetHTTP1(true)
		s.http.Protocols = p
		return
	}
	s.h2 = h2
	s.http.Protocols = p
	s.http.TLSNextProto = make(map[string]func(*http.Server, *tls.Conn, http.Handler), len(h2.TLSNextProto))
	for proto, serve := range h2.TLSNextProto {
		s.http.TLSNextProto[proto] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
			s.conns.markHTTP2(trackedConn(c))
			serve(hs, c, h)
		}
	}
}

// trackedConn is the connection the ConnState hook reports for an HTTP/2
// connection handed over as c: c itself over TLS; for h2c, net/http wraps
// the plain connection in a tls.Conn that only carries it, and says so.
func trackedConn(c *tls.Conn) net.Conn {
	if u, ok := c.NetConn().(interface{ UnencryptedNetConn() net.Conn }); ok {
		return u.UnencryptedNetConn()
	}
	return c
}

// goAwayHTTP2 tells every HTTP/2 connection that serves requests now to
// stop opening streams: net/http sends GOAWAY naming the last stream it
// accepted, answers the streams in flight, and closes the connection once
// they are done. Streams the client opened after that one were not
// processed, and the client knows it may retry them elsewhere.
func (s *Server) goAwayHTTP2() {
	if s.h2 == nil {
		return
	}
	s.conns.noteGoAway()
	// s.h2 has neither listeners nor connections of its own: its
	// Shutdown only runs the HTTP/2 shutdown hook, and returns at once.
	_ = s.h2.Shutdown(context.Background())
}

// tlsConfig is the configuration of a TLS listener: the one given, with
// HTTP/2 offered first and HTTP/1.1 second (ALPN), as browsers and proxies
// expect.
func (s *Server) tlsConfig() *tls.Config {
	cfg := s.cfg.TLS.Clone()
	protos := []string{"http/1.1"}
	if s.h2 != nil {
		protos = []string{"h2", "http/1.1"}
	}
	for _, proto := range protos {
		if !slices.Contains(cfg.NextProtos, proto) {
			cfg.NextProtos = append(cfg.NextProtos, proto)
		}
	}
	return cfg
}

// failingListener lets http.Server.Serve set up and return.
type failingListener struct{}

var errNoListener = errors.New("no listener")

func (failingListener) Accept() (net.Conn, error) { return nil, errNoListener }
func (failingListener) Close() error              { return nil }
func (failingListener) Addr() net.Addr            { return &net.TCPAddr{} }
