package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

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
	draining   atomic.Bool
	handoff    chan net.Conn // queued connections, taken while stopping
	handedOver chan struct{} // closed once Accept has returned all of them
	handOnce   sync.Once
	closed     chan struct{}
	closeOnce  sync.Once
	drainOnce  sync.Once
}

func newDrainListener(ln *net.TCPListener) *drainListener {
	return &drainListener{
		TCPListener: ln,
		handoff:     make(chan net.Conn),
		handedOver:  make(chan struct{}),
		closed:      make(chan struct{}),
	}
}

func (l *drainListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if err == nil || !l.draining.Load() {
		return c, err
	}
	// The socket is shut: pass on what drain took from the queue, then
	// hold the accept loop until Shutdown closes the listener, so that
	// http.Server reports a clean shutdown.
	if c, ok := <-l.handoff; ok {
		return c, nil
	}
	l.handOnce.Do(func() { close(l.handedOver) })
	<-l.closed
	return nil, net.ErrClosed
}

func (l *drainListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.TCPListener.Close()
}

// drain stops listening and returns once every connection that was queued
// has been handed to the server, or after timeout. Only the first call
// does anything.
func (l *drainListener) drain(warn func(msg string, args ...any), timeout time.Duration) {
	l.drainOnce.Do(func() { l.drainQueue(warn, timeout) })
}

func (l *drainListener) drainQueue(warn func(msg string, args ...any), timeout time.Duration) {
	l.draining.Store(true)
	conns, err := takeQueueAndShut(l.TCPListener)
	if err != nil {
		warn("cannot take queued connections before closing; one arriving now may be reset", "err", err)
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
