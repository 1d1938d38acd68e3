package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"
)

// upstreamStartTimeout bounds how long a request waits for a starting
// application server.
const upstreamStartTimeout = 30 * time.Second

// An upstream that does not finish its response head within
// upstreamHeaderTimeout of getting the request (Fly's proxy gives up on an
// idle connection after 60 s too), or sends a head of more than
// maxUpstreamHeaderBytes, gets its client a 502: a broken or hostile
// upstream cannot hold a request, or memory, without bound.
var upstreamHeaderTimeout = 60 * time.Second

const maxUpstreamHeaderBytes = 1 << 20

// newProxy forwards requests to the upstream (the Leptos SSR server) as
// they come: any method and body, streamed responses flushed as they
// arrive (Leptos streams HTML and server-function results), WebSocket
// upgrades, and X-Forwarded-For/-Proto/-Host for the upstream's logs and
// redirects. An upstream that is down gets a short 502, not a hang.
func newProxy(target *url.URL, ready <-chan struct{}, log *slog.Logger) http.Handler {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = upstreamHeaderTimeout
	transport.MaxResponseHeaderBytes = maxUpstreamHeaderBytes
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if ready != nil {
			// A machine that just started must not answer its first
			// request with 502 because the app server is still booting.
			select {
			case <-ready:
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(upstreamStartTimeout):
				return nil, errors.New("application server not ready")
			}
		}
		return dialer.DialContext(ctx, network, addr)
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("upstream unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
			body := "502 Bad Gateway: the application server is not answering\n"
			h := w.Header()
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusBadGateway)
			if r.Method != http.MethodHead {
				_, _ = w.Write([]byte(body))
			}
		},
	}
}
