package server

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// HealthPath answers 200 for load balancers and Fly's checks. Requests to
// it are not activity: checks arrive every few seconds, and if they kept
// the server awake it would never scale to zero.
const HealthPath = "/healthz"

// DefaultShutdownTimeout matches Fly's default kill_timeout: in-flight
// requests get this long to finish once brisk decides to stop.
const DefaultShutdownTimeout = 5 * time.Second

// activity counts requests in flight and remembers when the last one
// ended, without locks on the request path. While one is in flight the
// server is not idle, so when requests start need not be known.
type activity struct {
	inflight atomic.Int64
	last     atomic.Int64 // unix nanoseconds
}

func (a *activity) touch() { a.last.Store(time.Now().UnixNano()) }

// begin counts a request from its start until the returned function is
// called, when its handler has written the last byte: a slow download
// keeps the server up.
func (a *activity) begin() (done func()) {
	a.inflight.Add(1)
	return a.end
}

func (a *activity) end() {
	a.touch()
	a.inflight.Add(-1)
}

// idleRemaining is how long until the server has been idle for timeout:
// zero or less means it has. While requests are in flight it is the whole
// timeout, checked again later.
func (a *activity) idleRemaining(now time.Time, timeout time.Duration) time.Duration {
	if a.inflight.Load() > 0 {
		return timeout
	}
	return timeout - now.Sub(time.Unix(0, a.last.Load()))
}

// waitIdle returns a channel that is closed once the server has been idle
// for timeout, or never when timeout is 0.
func (a *activity) waitIdle(ctx context.Context, timeout time.Duration) <-chan struct{} {
	idle := make(chan struct{})
	if timeout <= 0 {
		return idle
	}
	go func() {
		t := time.NewTimer(timeout)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				d := a.idleRemaining(now, timeout)
				if d <= 0 {
					close(idle)
					return
				}
				t.Reset(d)
			}
		}
	}()
	return idle
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h["Content-Type"] = valPlainText
	h["Cache-Control"] = valNoStore
	h["Content-Length"] = valThree
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(okBody)
	}
	return nil
}

var (
	valNoStore = []string{"no-store"}
	valThree   = []string{"3"}
	okBody     = []byte("ok\n")
)

// StopReason says why Run returned.
type StopReason string

const (
	StopIdle     StopReason = "idle"
	StopCanceled StopReason = "stop requested"
)

// Run serves on ln until ctx is cancelled (a signal) or the server has been
// idle for the configured IdleTimeout. Either way it then stops taking
// connections, lets requests in flight finish within ShutdownTimeout, closes
// idle keep-alive connections and returns. A request that reached the
// server is answered whole; one that comes later is refused at connect.
func (s *Server) Run(ctx context.Context, ln net.Listener) (StopReason, error) {
	s.activity.touch() // the idle clock starts now
	if s.metrics != nil {
		s.metrics.startup.Store(int64(time.Since(s.cfg.Started)))
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve(ln) }()

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var reason StopReason
	select {
	case err := <-serveErr:
		return "", err
	case <-ctx.Done():
		reason = StopCanceled
	case <-s.activity.waitIdle(watchCtx, s.cfg.IdleTimeout):
		reason = StopIdle
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.Shutdown(shutdownCtx)
	if serr := <-serveErr; err == nil {
		err = serr
	}
	return reason, err
}
