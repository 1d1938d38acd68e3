// Package server turns snapshots of precompressed files into HTTP:
// content negotiation, representation headers, conditional and range
// requests, a proxy for everything that is not a file, and a lifecycle
// that drains and exits when idle. echo routes; brisk writes every
// response itself. It never compresses a file.
package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-server/brisk/compress"
)

// Source hands out the snapshot to serve; compress.Store is one.
type Source interface {
	Snapshot() *compress.Snapshot
}

// Config wires a Server.
type Config struct {
	Source Source
	Logger *slog.Logger // nil discards
	// Started stands in for the modification time of files that have
	// none, such as the embedded demo site.
	Started time.Time
	// Cache decides Cache-Control per file; the zero value makes hashed
	// bundles immutable and revalidates the rest.
	Cache CachePolicy
	// IdleTimeout makes Run return after this long without requests
	// (health checks aside); 0 means never.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds how long Run waits for requests in flight;
	// 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// LiveReload serves LiveReloadPath, for pages whose HTML carries the
	// script from InjectLiveReload. The Source must be a Changer.
	LiveReload bool
	// Upstream receives every request that names no file of the site:
	// the Leptos SSR server, say. Nil means such requests get 404.
	Upstream *url.URL
	// UpstreamReady, if set, is closed once the upstream accepts
	// connections (a child brisk started); proxied requests wait for it.
	UpstreamReady <-chan struct{}
	// Fallback names the file served, with 200, for a GET or HEAD of a
	// path that is not a file, has no extension and accepts HTML: the
	// index.html of a single-page app. "" means 404.
	Fallback string
	// BasePath serves the site under a prefix ("/app/"); "" means "/".
	BasePath string
	// CrossOriginIsolation sends COOP and COEP headers on every
	// response, which browsers require for SharedArrayBuffer (wasm
	// threads).
	CrossOriginIsolation bool
	// Headers add response headers to the files they match (CSP, HSTS,
	// CORS...); see HeaderRule.
	Headers []HeaderRule
	// NotFound names the file served, with 404, for a GET or HEAD of a
	// path that is not a file and that no fallback or upstream answers
	// (404.html, as Trunk and GitHub Pages have it); "" or a file that
	// does not exist means a short plain-text 404.
	NotFound string
	// Metrics counts requests for ServeMetrics.
	Metrics bool
	// AccessLog logs one line per request at Info level.
	AccessLog bool
	// TrustProxyHeaders takes the client address the access log shows
	// from Fly-Client-IP or X-Forwarded-For, which only a proxy in front
	// that sets them can vouch for.
	TrustProxyHeaders bool
	// TLS, if set, makes Serve speak HTTPS, HTTP/2 or HTTP/1.1 by ALPN.
	TLS *tls.Config
	// NoH2C turns off HTTP/2 with prior knowledge on a cleartext listener,
	// leaving HTTP/1.1 only.
	NoH2C bool
	// StreamCodings compress what the upstream sends uncompressed, as it
	// streams, in this order of preference; nil passes it on as it is.
	StreamCodings []*compress.StreamCoding
}

// Server serves the current snapshot of a Source.
type Server struct {
	cfg      Config
	log      *slog.Logger
	echo     *echo.Echo
	http     *http.Server
	h2       *http.Server // HTTP/2's shutdown hook; see configureProtocols
	activity activity
	conns    connTracker
	// stopping is closed when Shutdown starts, ending event streams.
	stopping     chan struct{}
	stoppingOnce sync.Once
	basePath     string // always starts and ends with "/"
	proxy        http.Handler
	derived      atomic.Pointer[snapCache]
	metrics      *metrics // nil unless Config.Metrics
	// Encoding upstream responses: the stream codings as representations
	// to negotiate among, and a slot per encoder allowed at once.
	streamReps []compress.Representation
	encoders   chan struct{}
	// connState hears of every connection's changes of state, from
	// net/http (through netHTTPState) and from brisk's own loop alike.
	connState func(net.Conn, http.ConnState)
}

// Timeouts that keep slow or idle clients from pinning connections. There
// is no overall write timeout, since a multi-megabyte wasm on a slow link
// may take minutes; each asset response gets a deadline from its size:
// writeBase plus a second per slowestClient bytes (variables for tests).
const (
	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 64 << 10
)

var (
	readHeaderTimeout = 10 * time.Second // from the first byte of a head to its end
	writeBase         = 30 * time.Second
	slowestClient     = int64(16 << 10) // bytes per second a client must sustain
)

// New builds a Server; it does not listen until Serve.
func New(cfg Config) *Server {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Started.IsZero() {
		cfg.Started = time.Now()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, echo: echo.New(), stopping: make(chan struct{}), basePath: cleanBase(cfg.BasePath)}
	if cfg.Upstream != nil {
		s.proxy = newProxy(cfg.Upstream, cfg.UpstreamReady, log)
		s.streamReps = streamReps(cfg.StreamCodings)
		s.encoders = make(chan struct{}, maxDynamicStreams)
	}
	if cfg.Metrics {
		s.metrics = &metrics{}
	}
	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = func(err error, c echo.Context) { s.writeError(c.Response().Writer, c.Request(), err) }
	s.echo.Match([]string{http.MethodGet, http.MethodHead}, HealthPath, s.route(s.health))
	if cfg.LiveReload {
		s.echo.GET(LiveReloadPath, s.route(s.liveReload))
	}
	s.echo.Any("/*", s.route(s.serveSite))
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         s.netHTTPState,
		ConnContext:       connContext,
	}
	s.connState = s.conns.track
	s.configureProtocols()
	return s
}

// handler is how brisk answers a request: it writes a response, or returns
// an error before writing anything, which writeError answers.
type handler func(w http.ResponseWriter, r *http.Request) error

// route hands echo a handler: echo chooses it, and brisk writes to the
// connection's own ResponseWriter, which can send 1xx responses and hand
// files to sendfile (echo's wrapper can do neither).
func (s *Server) route(h handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		w, r := c.Response().Writer, c.Request()
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
		return nil
	}
}

// ServeHTTP is the outermost handler: it counts the request as activity,
// observes it for metrics and the access log if asked, adds the
// cross-origin isolation headers if asked, and turns a panic into a logged
// 500. It lives outside echo's middleware chain, which echo rebuilds (and
// allocates) for every request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.observing() {
		o := observe(w)
		defer s.finishObserving(o, r, time.Now())
		w = o
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			w.WriteHeader(http.StatusInternalServerError)
		}
	}()
	// Health checks are not traffic, and an open dev page's live-reload
	// stream must not keep brisk up forever.
	if p := r.URL.Path; p != HealthPath && p != LiveReloadPath {
		done := s.activity.begin()
		defer done()
	}
	if s.cfg.CrossOriginIsolation {
		h := w.Header()
		h["Cross-Origin-Opener-Policy"] = valSameOrigin
		h["Cross-Origin-Embedder-Policy"] = valRequireCORP
	}
	s.echo.ServeHTTP(w, r)
}

// Serve accepts connections on ln until Shutdown. Plain TCP connections
// start on brisk's own HTTP/1.1 loop (h1.go); TLS ones go to net/http.
func (s *Server) Serve(ln net.Listener) error {
	ln = s.conns.listen(ln, s.log, s.cfg.TLS == nil)
	var err error
	_, tcp := ln.(*drainListener)
	switch {
	case s.cfg.TLS != nil:
		ln = tls.NewListener(ln, s.tlsConfig())
		err = s.http.Serve(ln)
	case tcp:
		err = s.acceptPlain(ln)
	default:
		err = s.http.Serve(ln)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// acceptPlain accepts until ln closes, and serves each connection on the
// loop. Like http.Server.Serve, it waits and tries again when accepting
// fails (out of file descriptors, say), from 5 ms up to a second.
func (s *Server) acceptPlain(ln net.Listener) error {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.stoppingNow() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Debug("accept failed; trying again", "err", err, "in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if cc, ok := c.(*clientConn); ok {
			// Known before the next Accept, as http.Server does it:
			// Shutdown counts on every connection the listener
			// handed out being tracked.
			s.connState(cc, http.StateNew)
			go s.serveH1(cc)
		} else {
			s.handToNetHTTP(c)
		}
	}
}

// cleanBase makes a base path start and end with exactly one "/".
func cleanBase(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return "/"
	}
	return "/" + p + "/"
}

func withQuery(p, rawQuery string) string {
	if rawQuery == "" {
		return p
	}
	return p + "?" + rawQuery
}
