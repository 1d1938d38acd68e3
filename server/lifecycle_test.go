package server

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// runServer starts Run on a loopback listener and returns its address and
// a channel with Run's outcome.
type runResult struct {
	reason StopReason
	err    error
	at     time.Time
}

func runServer(t *testing.T, ctx context.Context, files fstest.MapFS, idle time.Duration) (string, <-chan runResult) {
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
	done := make(chan runResult, 1)
	go func() {
		reason, err := srv.Run(ctx, ln)
		done <- runResult{reason, err, time.Now()}
	}()
	return ln.Addr().String(), done
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

var freshConns = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

func TestIdleExitIgnoresHealthChecks(t *testing.T) {
	const idle = 300 * time.Millisecond
	addr, done := runServer(t, context.Background(), fstest.MapFS{"index.html": {Data: []byte("hi")}}, idle)

	// Real traffic for a while keeps it up...
	var last time.Time
	for range 4 {
		resp, err := freshConns.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last = time.Now()
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
				resp, err := freshConns.Do(req)
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
			resp, err := freshConns.Get("http://" + addr + "/big.png")
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
// to it. Each request must be either answered whole or refused at connect;
// a connection accepted and then dropped (reset, EOF) fails the test.
func TestIdleDeadlineRace(t *testing.T) {
	const (
		rounds = 8
		burst  = 30
		idle   = 100 * time.Millisecond
	)
	page := make([]byte, 20_000)
	for i := range page {
		page[i] = 'a' + byte(i%26)
	}
	var served, refused int
	for round := range rounds {
		// From 4 ms before the deadline to 3 ms after it.
		offset := -4*time.Millisecond + time.Duration(round)*time.Millisecond
		addr, done := runServer(t, context.Background(), fstest.MapFS{"page.html": {Data: page}}, idle)
		at := time.Now().Add(idle + offset)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range burst {
			wg.Go(func() {
				time.Sleep(time.Until(at) + time.Duration(rand.Int64N(int64(time.Millisecond))))
				ok, err := getWhole(addr, "/page.html", len(page))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case ok:
					served++
				case refusedAtConnect(err):
					refused++
				default:
					t.Errorf("round %d (deadline %+v): accepted and then dropped: %v", round, offset, err)
				}
			})
		}
		wg.Wait()
		waitRun(t, done, 10*time.Second)
	}
	t.Logf("%d rounds of %d: %d served whole, %d refused at connect", rounds, burst, served, refused)
	if served == 0 || refused == 0 {
		t.Errorf("the requests did not straddle the deadline (served %d, refused %d)", served, refused)
	}
}

// refusedAtConnect reports an error from connecting, before any request
// was sent: refused, or reset while the handshake was under way.
func refusedAtConnect(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" &&
		(errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET))
}

// getWhole fetches path on a fresh connection and checks the whole body came.
func getWhole(addr, path string, size int) (bool, error) {
	resp, err := freshConns.Get("http://" + addr + path)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	if resp.StatusCode != 200 || len(b) != size {
		return false, errors.New(resp.Status + ": short body")
	}
	return true, nil
}
