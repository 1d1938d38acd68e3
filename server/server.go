// Package server turns snapshots of precompressed files into HTTP on echo:
// content negotiation, representation headers, conditional and range
// requests. It never compresses anything itself.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-server/brisk/compress"
	"github.com/labstack/echo/v4"
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
}

// Server serves the current snapshot of a Source.
type Server struct {
	cfg       Config
	log       *slog.Logger
	echo      *echo.Echo
	http      *http.Server
	activity  activity
	conns     sync.Map // net.Conn → *connState, for Shutdown
	mu        sync.Mutex
	listeners []net.Listener
	// stopping is closed when Shutdown starts, ending event streams.
	stopping     chan struct{}
	stoppingOnce sync.Once
	basePath     string // always starts and ends with "/"
	proxy        http.Handler
	derived      atomic.Pointer[snapCache]
}

// Timeouts that keep slow or idle clients from pinning connections. There
// is no overall write timeout, since a multi-megabyte wasm on a slow link
// may take minutes; each asset response gets a deadline from its size.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	writeBase         = 30 * time.Second
	slowestClient     = 16 << 10 // bytes per second a client must sustain
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
	}
	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = s.handleError
	s.echo.Match([]string{http.MethodGet, http.MethodHead}, HealthPath, s.health)
	if cfg.LiveReload {
		s.echo.GET(LiveReloadPath, s.liveReload)
	}
	s.echo.Any("/*", s.serveAsset)
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         s.trackConn,
	}
	return s
}

// ServeHTTP is the outermost handler: it counts the request as activity,
// adds the cross-origin isolation headers if asked, and turns a panic into
// a logged 500. It lives outside echo's middleware chain, which echo
// rebuilds (and allocates) for every request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if tcp, ok := ln.(*net.TCPListener); ok {
		ln = newDrainListener(tcp)
	}
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// Shutdown stops taking connections and answers every request that reached
// the server, then returns once all connections are closed; when ctx ends
// first, it closes what is left. Unlike http.Server.Shutdown, which drops a
// request read from a connection after shutdown began, it answers those
// too: it turns keep-alive off (each response then closes its connection),
// closes idle keep-alive connections, and waits.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stoppingOnce.Do(func() { close(s.stopping) })
	s.mu.Lock()
	listeners := s.listeners
	s.mu.Unlock()
	for _, ln := range listeners {
		if dl, ok := ln.(*drainListener); ok {
			dl.drain(s.log.Warn, s.cfg.ShutdownTimeout)
		} else {
			ln.Close()
		}
	}
	s.http.SetKeepAlivesEnabled(false)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		open := s.closeIdle(time.Now())
		if open == 0 {
			return s.http.Close()
		}
		select {
		case <-ctx.Done():
			s.http.Close()
			return fmt.Errorf("shutdown: %d connections still open: %w", open, ctx.Err())
		case <-poll.C:
		}
	}
}

// newConnGrace is how long a connection accepted while brisk stops may take
// to send its request. Clients send at once; a connection that stays
// silent longer is a speculative one a client opened in advance.
const newConnGrace = time.Second

// connState is what Shutdown needs to know of one connection. Updates are
// atomic: the hook runs for every request.
type connState struct {
	state atomic.Int32 // http.ConnState
	since atomic.Int64 // unix nanoseconds of the last change
}

func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateClosed, http.StateHijacked:
		s.conns.Delete(c)
		return
	case http.StateNew:
		s.conns.Store(c, &connState{})
	}
	if v, ok := s.conns.Load(c); ok {
		cs := v.(*connState)
		cs.state.Store(int32(state))
		cs.since.Store(time.Now().UnixNano())
	}
}

// closeIdle closes connections with nothing to answer (idle keep-alive
// ones, and new ones silent past newConnGrace) and counts those left.
func (s *Server) closeIdle(now time.Time) (open int) {
	s.conns.Range(func(k, v any) bool {
		cs := v.(*connState)
		state, since := http.ConnState(cs.state.Load()), time.Unix(0, cs.since.Load())
		if state == http.StateIdle || (state == http.StateNew && now.Sub(since) > newConnGrace) {
			k.(net.Conn).Close()
		}
		open++
		return true
	})
	return open
}

func (s *Server) serveAsset(c echo.Context) error {
	r := c.Request()
	if !strings.HasPrefix(r.URL.Path, s.basePath) {
		if r.URL.Path+"/" == s.basePath && readOnly(r.Method) {
			return c.Redirect(http.StatusMovedPermanently, withQuery(s.basePath, r.URL.RawQuery))
		}
		return s.notFile(c, http.StatusNotFound)
	}
	name, status := assetName(r.URL.Path[len(s.basePath)-1:]) // from the base's last "/"
	switch status {
	case 0:
	case http.StatusNotFound: // a hidden name: not the site's, maybe the upstream's
		return s.notFile(c, status)
	default:
		return echo.NewHTTPError(status).SetInternal(fmt.Errorf("rejected path %q", r.URL.Path))
	}
	snap := s.cfg.Source.Snapshot()
	a, ok := snap.Lookup(name)
	if !ok {
		if _, isDir := snap.Lookup(name + "/" + indexFile); isDir && readOnly(r.Method) {
			return c.Redirect(http.StatusMovedPermanently, withQuery(s.basePath+name+"/", r.URL.RawQuery))
		}
		if a, ok = s.fallback(c, snap, name); !ok {
			return s.notFile(c, http.StatusNotFound)
		}
	}
	if !readOnly(r.Method) {
		c.Response().Header().Set("Allow", "GET, HEAD")
		return echo.NewHTTPError(http.StatusMethodNotAllowed)
	}
	return s.send(c, snap, a)
}

// notFile answers a request that names no file of the site: the upstream
// gets it, if there is one.
func (s *Server) notFile(c echo.Context, status int) error {
	if s.proxy != nil {
		s.proxy.ServeHTTP(c.Response(), c.Request())
		return nil
	}
	return echo.NewHTTPError(status)
}

// send writes one asset: negotiation, headers, conditionals, range, body.
func (s *Server) send(c echo.Context, snap *compress.Snapshot, a *compress.Asset) error {
	r := c.Request()
	name := a.Path
	if strings.HasPrefix(a.MediaType, "text/html") {
		if links := s.linkHeader(snap, name, a); links != nil {
			c.Response().Header()["Link"] = links
			if r.Method == http.MethodGet {
				// 103 Early Hints first, with the Link header alone, so
				// the browser starts on the wasm while the page is on
				// its way. It goes to the underlying writer: echo would
				// take it for the final status.
				c.Response().Writer.WriteHeader(http.StatusEarlyHints)
			}
		}
	}
	h := c.Response().Header()
	h["X-Content-Type-Options"] = valNosniff
	if a.Compressible {
		// Even an uncompressed answer depends on Accept-Encoding.
		h["Vary"] = valAcceptEncoding
	}
	rep, ok := negotiate(r.Header["Accept-Encoding"], &a.Identity, a.Variants())
	if !ok {
		return echo.NewHTTPError(http.StatusNotAcceptable).SetInternal(
			fmt.Errorf("%s: no acceptable encoding in %q", name, r.Header["Accept-Encoding"]))
	}
	// Variants only ever join, and headersFor rebuilds when their number
	// changed, so the representation negotiate chose is always there.
	ah := s.headersFor(s.cacheFor(snap), a)
	rh := ah.reps[rep.Coding]
	etag, mod := rh.etag[0], ah.lastMod
	h["Content-Type"] = ah.contentType
	h["Etag"] = rh.etag
	h["Last-Modified"] = ah.lastModified
	h["Cache-Control"] = ah.cacheControl
	h["Accept-Ranges"] = valBytes
	if rh.contentEncoding != nil {
		h["Content-Encoding"] = rh.contentEncoding
	}

	switch precondition(r.Header, etag, mod) {
	case http.StatusNotModified:
		h.Del("Content-Type")
		h.Del("Content-Encoding")
		h.Del("Accept-Ranges")
		c.Response().WriteHeader(http.StatusNotModified)
		return nil
	case http.StatusPreconditionFailed:
		return echo.NewHTTPError(http.StatusPreconditionFailed)
	}

	start, end, status := int64(0), rep.Size, http.StatusOK
	if ranges := r.Header.Get("Range"); ranges != "" && r.Method == http.MethodGet && rangeApplies(r.Header, etag, mod) {
		var res rangeResult
		switch start, end, res = parseRange(ranges, rep.Size); res {
		case rangePartial:
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, rep.Size))
			status = http.StatusPartialContent
		case rangeUnsatisfiable:
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", rep.Size))
			return echo.NewHTTPError(http.StatusRequestedRangeNotSatisfiable)
		default:
			start, end = 0, rep.Size
		}
	}
	// Set by hand: net/http leaves it out when Content-Encoding is set,
	// and browsers show download progress only with it.
	if end-start == rep.Size {
		h["Content-Length"] = rh.contentLength
	} else {
		h.Set("Content-Length", strconv.FormatInt(end-start, 10))
	}
	if r.Method == http.MethodHead {
		c.Response().WriteHeader(status)
		return nil
	}
	data, file, err := rep.Body()
	if err != nil {
		// The file changed under a manifest that vouched for it.
		return echo.NewHTTPError(http.StatusServiceUnavailable).SetInternal(fmt.Errorf("%s: %w", name, err))
	}
	if file != nil {
		defer file.Close()
	}
	if wd, ok := c.Response().Writer.(writeDeadliner); ok {
		deadline := time.Now().Add(writeBase + time.Duration((end-start)/slowestClient)*time.Second)
		if err := wd.SetWriteDeadline(deadline); err != nil {
			s.log.Debug("set write deadline", "err", err)
		}
	}
	c.Response().WriteHeader(status)
	if err := writeBody(c.Response().Writer, data, file, start, end); err != nil {
		// The client went away; the status is already sent.
		s.log.Debug("write body", "path", name, "err", err)
	}
	return nil
}

// writeBody sends bytes [start, end) of the representation: from memory in
// one write, or from its file, which net/http hands to sendfile when the
// writer is a plain connection.
func writeBody(w io.Writer, data []byte, file fs.File, start, end int64) error {
	if file == nil {
		_, err := w.Write(data[start:end])
		return err
	}
	if start > 0 {
		seeker, ok := file.(io.Seeker)
		if !ok {
			return errors.New("file cannot seek")
		}
		if _, err := seeker.Seek(start, io.SeekStart); err != nil {
			return err
		}
	}
	_, err := io.Copy(w, io.LimitReader(file, end-start))
	return err
}

// readOnly reports the methods a static file answers.
func readOnly(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
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

// representationHeaders describe a body that an error response does not have.
var representationHeaders = []string{
	"Content-Encoding", "Content-Length", "Etag", "Last-Modified", "Cache-Control", "Accept-Ranges",
}

// handleError answers every error with a short plain-text message naming
// only the status. The detail, which may mention paths or internals, goes
// to the log.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := http.StatusInternalServerError
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
	}
	r := c.Request()
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", code, "err", err}
	if code >= 500 {
		s.log.Error("request failed", attrs...)
	} else {
		s.log.Debug("request refused", attrs...)
	}
	h := c.Response().Header()
	for _, k := range representationHeaders {
		h.Del(k)
	}
	body := strconv.Itoa(code) + " " + http.StatusText(code) + "\n"
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.Response().WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = c.Response().Write([]byte(body))
	}
}
