package server

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// runResult is how Run ended, and when.
type runResult struct {
	reason StopReason
	err    error
	at     time.Time
}

// connLedger follows, server side, what happened to every connection the
// server accepted: whether a request was read on it before it closed.
type connLedger struct {
	mu       sync.Mutex
	active   map[net.Conn]bool
	accepted int
	dropped  int // closed without a request ever being read
}

func (l *connLedger) track(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case http.StateNew:
		l.accepted++
		l.active[c] = false
	case http.StateActive:
		l.active[c] = true
	case http.StateClosed, http.StateHijacked:
		if !l.active[c] {
			l.dropped++
		}
		delete(l.active, c)
	}
}

// runServer starts Run on a loopback listener and returns its address and
// a channel with Run's outcome.
func runServer(t *testing.T, ctx context.Context, files fstest.MapFS, idle time.Duration) (string, <-chan runResult) {
	addr, done, _ := runServerLedger(t, ctx, files, idle)
	return addr, done
}

func runServerLedger(t *testing.T, ctx context.Context, files fstest.MapFS, idle time.Duration) (string, <-chan runResult, *connLedger) {
	t.Helper()
	store, err := compress.Open(files, compress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Source: store, IdleTimeout: idle, ShutdownTimeout: 10 * time.Second})
	ledger := &connLedger{active: map[net.Conn]bool{}}
	srv.connState = func(c net.Conn, st http.ConnState) {
		srv.conns.track(c, st)
		ledger.track(c, st)
	}
	done := make(chan runResult, 1)
	go func() {
		reason, err := srv.Run(ctx, ln)
		done <- runResult{reason, err, time.Now()}
	}()
	return ln.Addr().String(), done, ledger
}

func waitRun(t *testing.T, done <-chan runResult, within time.Duration) runResult {
	t.Helper()
	select {
	case r := <-done:
		if r.err != nil {
			t.Errorf("Run: %v", r.err)
		}
		return r
	case <-time.After(within):
		t.Fatalf("Run did not return within %s", within)
		return runResult{}
	}
}

func TestIdleExitIgnoresHealthChecks(t *testing.T) {
	forEachProtocol(t, testIdleExitIgnoresHealthChecks)
}

func testIdleExitIgnoresHealthChecks(t *testing.T, p protocol) {
	const idle = 300 * time.Millisecond
	addr, done := runServer(t, context.Background(), fstest.MapFS{"index.html": {Data: []byte("hi")}}, idle)

	// Real traffic for a while keeps it up...
	// last is when the last real request was sent: the server's idle clock
	// cannot have started before it (it starts when the server finishes the
	// response, which the client sees a little later).
	var last time.Time
	for range 4 {
		last = time.Now()
		resp, err := p.fresh().Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		time.Sleep(idle / 3)
	}
	// ...health checks do not, GET or HEAD.
	stopChecks := make(chan struct{})
	var checks sync.WaitGroup
	checks.Go(func() {
		for {
			select {
			case <-stopChecks:
				return
			case <-time.After(idle / 10):
			}
			for _, method := range []string{"GET", "HEAD"} {
				req, _ := http.NewRequest(method, "http://"+addr+HealthPath, nil)
				resp, err := p.fresh().Do(req)
				if err != nil {
					return // the server has gone
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || (method == "GET" && string(body) != "ok\n") {
					t.Errorf("%s %s: %d %q", method, HealthPath, resp.StatusCode, body)
				}
			}
		}
	})
	r := waitRun(t, done, 10*time.Second)
	close(stopChecks)
	checks.Wait()
	if r.reason != StopIdle {
		t.Errorf("stopped because %q, want %q", r.reason, StopIdle)
	}
	if r.at.Sub(last) < idle {
		t.Errorf("exited %s after the last request, before the idle timeout %s", r.at.Sub(last), idle)
	}
}

// A download slower than the idle timeout is activity until its last byte,
// and a stop signal during it waits for it too.
func TestSlowDownloadOutlivesDeadline(t *testing.T) {
	forEachProtocol(t, testSlowDownloadOutlivesDeadline)
}

func testSlowDownloadOutlivesDeadline(t *testing.T, p protocol) {
	for _, stop := range []string{"idle", "signal"} {
		t.Run(stop, func(t *testing.T) {
			big := make([]byte, 16<<20) // larger than loopback socket buffers
			for i := range big {
				big[i] = byte(i * 7)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			idle := 200 * time.Millisecond
			if stop == "signal" {
				idle = 0
			}
			addr, done := runServer(t, ctx, fstest.MapFS{"big.png": {Data: big}}, idle)
			resp, err := p.fresh().Get("http://" + addr + "/big.png")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if stop == "signal" {
				cancel()
			}
			got := 0
			buf := make([]byte, 256<<10)
			start := time.Now()
			for {
				n, err := resp.Body.Read(buf)
				got += n
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("download broke after %d bytes: %v", got, err)
				}
				time.Sleep(15 * time.Millisecond) // about 16 MB/s: over a second
			}
			if got != len(big) {
				t.Fatalf("got %d bytes, want %d", got, len(big))
			}
			if took := time.Since(start); stop == "idle" && took < idle {
				t.Fatalf("download took %s, not longer than the idle timeout: the test proves nothing", took)
			}
			r := waitRun(t, done, 10*time.Second)
			want := map[string]StopReason{"idle": StopIdle, "signal": StopCanceled}[stop]
			if r.reason != want {
				t.Errorf("stopped because %q, want %q", r.reason, want)
			}
		})
	}
}

// TestIdleDeadlineRace aims bursts of requests at the moment the idle
// deadline passes, round after round, each round a little later relative
// to it. Every connection the server accepted must be answered whole, and
// a client must see a whole response or a failure to connect. The one
// failure the kernel can still cause: a handshake in flight at the instant
// the listener shuts is reset right after the client's connect returned;
// the server never accepted that connection, and the ledger proves it.
func TestIdleDeadlineRace(t *testing.T) { forEachProtocol(t, testIdleDeadlineRace) }

func testIdleDeadlineRace(t *testing.T, p protocol) {
	const (
		rounds = 8
		burst  = 30
		idle   = 100 * time.Millisecond
	)
	page := make([]byte, 20_000)
	for i := range page {
		page[i] = 'a' + byte(i%26)
	}
	var served, refused, raced, accepted int
	for round := range rounds {
		// From 4 ms before the deadline to 3 ms after it.
		offset := -4*time.Millisecond + time.Duration(round)*time.Millisecond
		addr, done, ledger := runServerLedger(t, context.Background(), fstest.MapFS{"page.html": {Data: page}}, idle)
		at := time.Now().Add(idle + offset)
		var wg sync.WaitGroup
		var mu sync.Mutex
		roundServed := 0
		for range burst {
			wg.Go(func() {
				time.Sleep(time.Until(at) + time.Duration(rand.Int64N(int64(time.Millisecond))))
				ok, gotResponse, err := getWhole(p.fresh(), addr, "/page.html", len(page))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case ok:
					roundServed++
				case refusedAtConnect(err):
					refused++
				case !gotResponse && (errors.Is(err, syscall.ECONNRESET) || neverEstablished(err)):
					raced++ // checked against the ledger below
				default:
					t.Errorf("round %d (deadline %+v): broken response: %v", round, offset, err)
				}
			})
		}
		wg.Wait()
		waitRun(t, done, 10*time.Second)
		ledger.mu.Lock()
		if ledger.dropped != 0 || ledger.accepted != roundServed {
			t.Errorf("round %d (deadline %+v): server accepted %d connections, answered %d, closed %d without reading a request",
				round, offset, ledger.accepted, roundServed, ledger.dropped)
		}
		accepted += ledger.accepted
		ledger.mu.Unlock()
		served += roundServed
	}
	t.Logf("%d rounds of %d: %d served whole, %d refused at connect, %d handshakes reset as the listener shut (never accepted); server accepted %d",
		rounds, burst, served, refused, raced, accepted)
	if served == 0 || refused+raced == 0 {
		t.Errorf("the requests did not straddle the deadline (served %d, refused %d, raced %d)", served, refused, raced)
	}
}

// neverEstablished reports Go's HTTP/2 client giving up on a connection
// before the server's first frame: over h2c, a handshake reset as the
// listener shut shows as this rather than as a reset (the client has
// already written its preface), and the cause is not wrapped.
func neverEstablished(err error) bool {
	return err != nil && strings.Contains(err.Error(), "http2: client conn could not be established")
}

// refusedAtConnect reports an error from connecting, before any request
// was sent: refused, or reset while the handshake was under way.
func refusedAtConnect(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" &&
		(errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET))
}

// getWhole fetches path on a fresh connection and checks the whole body
// came; gotResponse says whether any of the response arrived.
func getWhole(client *http.Client, addr, path string, size int) (ok, gotResponse bool, err error) {
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return false, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, true, err
	}
	if resp.StatusCode != 200 || len(b) != size {
		return false, true, errors.New(resp.Status + ": short body")
	}
	return true, true, nil
}
