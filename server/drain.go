package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// connTracker knows every listener and connection of a Server, so that
// Shutdown can stop without dropping a request that reached it.
type connTracker struct {
	mu        sync.Mutex
	listeners []net.Listener
	conns     sync.Map // net.Conn → *connState
}

// connState is what Shutdown needs to know of one connection. Updates are
// atomic: the hook runs for every request.
type connState struct {
	state atomic.Int32 // http.ConnState
	since atomic.Int64 // unix nanoseconds: when it was new; over HTTP/2, of the last change
	// http2 marks a connection handed to the HTTP/2 server, whose hook
	// reports it idle once it has read the client's preface (idled), and
	// active whenever a stream is open (streamed, once one was);
	// goingAway says it was sent GOAWAY.
	http2, idled, streamed, goingAway atomic.Bool
}

// listen registers ln, wrapped so that a TCP listener can drain. Its
// connections are clientConns when they carry plain HTTP: under TLS the
// bytes a clientConn would see are ciphertext, and net/http must find the
// *tls.Conn itself.
func (t *connTracker) listen(ln net.Listener, log *slog.Logger, plain bool) net.Listener {
	if tcp, ok := ln.(*net.TCPListener); ok {
		ln = newDrainListener(tcp, log, plain)
	}
	t.mu.Lock()
	t.listeners = append(t.listeners, ln)
	t.mu.Unlock()
	return ln
}

// track is the http.Server's ConnState hook.
func (t *connTracker) track(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateClosed, http.StateHijacked:
		t.conns.Delete(c)
		return
	case http.StateNew:
		t.conns.Store(c, &connState{})
	}
	if v, ok := t.conns.Load(c); ok {
		cs := v.(*connState)
		cs.state.Store(int32(state))
		// Only the age of a new connection and the quiet of an HTTP/2 one
		// are ever read (awaitingFirstRequest, closeIdle): the clock is
		// not read twice for every HTTP/1.1 request.
		h2 := cs.http2.Load()
		if state == http.StateNew || h2 {
			cs.since.Store(time.Now().UnixNano())
		}
		if h2 {
			switch state {
			case http.StateIdle:
				cs.idled.Store(true)
			case http.StateActive:
				cs.streamed.Store(cs.idled.Load())
			}
		}
	}
}

// count reports the connections open.
func (t *connTracker) count() (n int) {
	t.conns.Range(func(_, _ any) bool { n++; return true })
	return n
}

// markHTTP2 records that c is served by the HTTP/2 server from now on.
func (t *connTracker) markHTTP2(c net.Conn) {
	if v, ok := t.conns.Load(c); ok {
		v.(*connState).http2.Store(true)
	}
}

// awaitingFirstRequest reports whether a connection accepted less than
// newConnGrace ago may have its first request on the way: it is new and
// silent so far, or speaks HTTP/2 and has opened no stream yet. A GOAWAY
// now would turn that request away (net/http sends it naming only streams
// already read), so Shutdown holds the GOAWAY back until none is left.
func (t *connTracker) awaitingFirstRequest(now time.Time) (waiting bool) {
	t.conns.Range(func(_, v any) bool {
		cs := v.(*connState)
		state, since := http.ConnState(cs.state.Load()), time.Unix(0, cs.since.Load())
		firstPending := state == http.StateNew || (cs.http2.Load() && state == http.StateIdle && !cs.streamed.Load())
		waiting = firstPending && now.Sub(since) <= newConnGrace
		return !waiting
	})
	return waiting
}

// noteGoAway records that the HTTP/2 connections served now were sent
// GOAWAY.
func (t *connTracker) noteGoAway() {
	t.conns.Range(func(_, v any) bool {
		if cs := v.(*connState); cs.http2.Load() {
			cs.goingAway.Store(true)
		}
		return true
	})
}

// newConnGrace is how long a connection accepted while brisk stops may take
// to send its request. Clients send at once; a connection that stays
// silent longer is a speculative one a client opened in advance.
const newConnGrace = time.Second

// closeIdle closes connections with nothing to answer (idle keep-alive
// ones, and new ones silent past newConnGrace) and counts those left.
// HTTP/2 connections sent GOAWAY are left to the HTTP/2 server, which
// closes each once its streams are answered; others only when silent past
// newConnGrace, since an idle one may have a stream on its way.
func (t *connTracker) closeIdle(now time.Time) (open int) {
	t.conns.Range(func(k, v any) bool {
		cs := v.(*connState)
		state, since := http.ConnState(cs.state.Load()), time.Unix(0, cs.since.Load())
		silent := now.Sub(since) > newConnGrace
		idle := state == http.StateIdle || (state == http.StateNew && silent)
		if cs.http2.Load() {
			idle = !cs.goingAway.Load() && silent && (state == http.StateIdle || state == http.StateNew)
		}
		if idle {
			k.(net.Conn).Close()
		}
		open++
		return true
	})
	return open
}

// closeAll closes every listener and connection: those of brisk's own
// loop, which http.Server.Close does not know.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	for _, ln := range t.listeners {
		ln.Close()
	}
	t.mu.Unlock()
	t.conns.Range(func(k, _ any) bool {
		k.(net.Conn).Close()
		return true
	})
}

// Shutdown stops taking connections and answers every request that reached
// the server, then returns once all connections are closed; when ctx ends
// first, it closes what is left. Unlike http.Server.Shutdown, which drops a
// request read from a connection after shutdown began, it answers those
// too: it turns keep-alive off (each HTTP/1 response then closes its
// connection; an HTTP/2 connection sends GOAWAY once its streams are done),
// closes idle keep-alive connections, sends GOAWAY to every HTTP/2
// connection once no connection is waiting for its first request, and
// waits.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stoppingOnce.Do(func() { close(s.stopping) })
	s.conns.mu.Lock()
	listeners := s.conns.listeners
	s.conns.mu.Unlock()
	for _, ln := range listeners {
		if dl, ok := ln.(*drainListener); ok {
			dl.drain(s.cfg.ShutdownTimeout)
		} else {
			ln.Close()
		}
	}
	s.http.SetKeepAlivesEnabled(false)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	goneAway := false
	for {
		now := time.Now()
		if !goneAway && !s.conns.awaitingFirstRequest(now) {
			s.goAwayHTTP2()
			goneAway = true
		}
		open := s.conns.closeIdle(now)
		if open == 0 {
			err := s.http.Close()
			s.conns.closeAll()
			return err
		}
		select {
		case <-ctx.Done():
			s.http.Close()
			s.conns.closeAll()
			return fmt.Errorf("shutdown: %d connections still open: %w", open, ctx.Err())
		case <-poll.C:
		}
	}
}

// drainListener lets a server stop without dropping a connection it has
// let in. Closing a listening socket resets every connection still in the
// kernel's accept queue: the client connected, sent its request, and gets a
// reset. So when brisk stops, the listener takes everything queued and
// stops listening in one step (see takeQueueAndShut), hands what it took to
// the server to answer, and only then lets Shutdown close it. Connections
// after that point are refused at connect, which a proxy such as Fly's
// treats as "start the machine again".
type drainListener struct {
	*net.TCPListener
	log   *slog.Logger
	plain bool // hand out clientConns (see listen)
	// See noteStarvation; used by the accept loop only.
	starved, announced bool
	saidStarved        time.Time
	draining           atomic.Bool
	handoff            chan net.Conn // queued connections, taken while stopping
	handedOver         chan struct{} // closed once Accept has returned all of them
	handOnce           sync.Once
	closed             chan struct{}
	closeOnce          sync.Once
	drainOnce          sync.Once
}

func newDrainListener(ln *net.TCPListener, log *slog.Logger, plain bool) *drainListener {
	return &drainListener{
		TCPListener: ln,
		log:         log,
		plain:       plain,
		handoff:     make(chan net.Conn),
		handedOver:  make(chan struct{}),
		closed:      make(chan struct{}),
	}
}

// client is c as the server gets it.
func (l *drainListener) client(c net.Conn) net.Conn {
	if l.plain {
		return wrapConn(c)
	}
	return c
}

func (l *drainListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	l.noteStarvation(err)
	if err == nil {
		return l.client(c), nil
	}
	if !l.draining.Load() {
		return nil, err
	}
	// The socket is shut: pass on what drain took from the queue, then
	// hold the accept loop until Shutdown closes the listener, so that
	// http.Server reports a clean shutdown.
	if c, ok := <-l.handoff; ok {
		return l.client(c), nil
	}
	l.handOnce.Do(func() { close(l.handedOver) })
	<-l.closed
	return nil, net.ErrClosed
}

// noteStarvation logs when accepting starts failing for want of file
// descriptors, and when it works again: at most once a minute, since
// accept flaps while descriptors are freed one by one. Meanwhile the
// listener stays open: http.Server retries such errors after a pause
// (growing to a second), new connections wait in the kernel's queue, and
// brisk serves them as soon as descriptors are freed. Only the accept
// loop calls it.
func (l *drainListener) noteStarvation(err error) {
	starved := errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
	switch {
	case starved && !l.starved:
		l.starved = true
		if now := time.Now(); now.Sub(l.saidStarved) > time.Minute {
			l.saidStarved, l.announced = now, true
			l.log.Warn("out of file descriptors: new connections wait until some are freed", "err", err)
		}
	case err == nil && l.starved:
		l.starved = false
		if l.announced {
			l.announced = false
			l.log.Info("accepting connections again")
		}
	}
}

func (l *drainListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.TCPListener.Close()
}

// drain stops listening and returns once every connection that was queued
// has been handed to the server, or after timeout. Only the first call
// does anything.
func (l *drainListener) drain(timeout time.Duration) {
	l.drainOnce.Do(func() { l.drainQueue(timeout) })
}

func (l *drainListener) drainQueue(timeout time.Duration) {
	l.draining.Store(true)
	conns, err := takeQueueAndShut(l.TCPListener)
	if err != nil {
		l.log.Warn("cannot take queued connections before closing; one arriving now may be reset", "err", err)
	}
	// Wake the accept loop if it is waiting for a connection.
	_ = l.SetDeadline(time.Now())
	expire := time.After(timeout)
	for _, c := range conns {
		select {
		case l.handoff <- c:
		case <-expire:
			c.Close()
		}
	}
	close(l.handoff)
	select {
	case <-l.handedOver:
	case <-expire:
	}
}
