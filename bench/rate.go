//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Tail latency is a property of a server below saturation: wrk drives
// every server as hard as it can, so its percentiles mostly measure the
// queue it builds. The fixed-rate runs instead send requests on a
// schedule (an open loop: the next request is due whether or not the
// last one came back) and time each from when it was due, so that a
// server that stalls is charged for the requests that waited behind the
// stall too, not only for the one that stalled.

// rateResult is one fixed-rate run.
type rateResult struct {
	rate     float64 // requests per second asked for
	achieved float64 // answered per second
	p50, p99 time.Duration
	p999     time.Duration
	errors   int
}

// rateKey names one fixed-rate run of a server: its target and level.
type rateKey struct {
	target string
	level  int // percent of nginx's median wrk rate
}

// rateConns is how many keep-alive connections carry a fixed-rate run, as
// many as wrk uses: a request waits for a free one only once every one is
// busy, and that wait counts.
const rateConns = 64

// runRate sends GET requests for path to addr at rate per second for d,
// asking for br.
func runRate(ctx context.Context, addr, path string, rate float64, d time.Duration) (rateResult, error) {
	res := rateResult{rate: rate}
	n := int(rate * d.Seconds())
	if n < 1 {
		return res, fmt.Errorf("rate %.0f/s for %s is no request", rate, d)
	}
	req := []byte("GET /" + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept-Encoding: br\r\nUser-Agent: benchpeers\r\n\r\n")
	due := make(chan time.Time, n)
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, n)
		errs      int
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	for range min(rateConns, n) {
		wg.Go(func() {
			var conn net.Conn
			var br *bufio.Reader
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			for at := range due {
				if wait := time.Until(at); wait > 0 {
					time.Sleep(wait)
				}
				if ctx.Err() != nil {
					return
				}
				if conn == nil {
					var err error
					if conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr); err != nil {
						mu.Lock()
						errs++
						mu.Unlock()
						continue
					}
					br = bufio.NewReaderSize(conn, 64<<10)
				}
				ok := exchange(conn, br, req)
				took := time.Since(at)
				mu.Lock()
				if ok {
					latencies = append(latencies, took)
				} else {
					errs++
				}
				mu.Unlock()
				if !ok {
					conn.Close()
					conn = nil
				}
			}
		})
	}
	start := time.Now().Add(10 * time.Millisecond)
	interval := time.Duration(float64(time.Second) / rate)
	for i := range n {
		due <- start.Add(time.Duration(i) * interval)
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return res, fmt.Errorf("fixed-rate run cut short: %w", context.Cause(ctx))
	}
	slices.Sort(latencies)
	res.errors = errs
	res.achieved = float64(len(latencies)) / elapsed.Seconds()
	if len(latencies) > 0 {
		at := func(q float64) time.Duration { return latencies[min(int(q*float64(len(latencies))), len(latencies)-1)] }
		res.p50, res.p99, res.p999 = at(0.50), at(0.99), at(0.999)
	}
	return res, nil
}

// exchange sends one request on conn and reads its whole answer; false
// means the exchange failed or the answer was not a 200.
func exchange(conn net.Conn, br *bufio.Reader, req []byte) bool {
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return false
	}
	if _, err := conn.Write(req); err != nil {
		return false
	}
	resp, err := http.ReadResponse(br, nil)
	for err == nil && resp.StatusCode < 200 { // a 103 Early Hints comes first
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err == nil && resp.StatusCode == http.StatusOK
}

// rateRuns runs every peer at each level (a percentage of nginx's median
// wrk rate for the target), interleaved: level by level, server by
// server, so that load elsewhere on the machine spreads over all of them.
func (b *bench) rateRuns(ctx context.Context, peers []*peer) {
	var nginx *peer
	for _, p := range peers {
		if p.name == "nginx" {
			nginx = p
		}
	}
	if nginx == nil {
		b.skipped = append(b.skipped, "fixed-rate runs: they are set against nginx, which is not among -servers")
		return
	}
	for _, t := range targets {
		top, ok := medianRun(nginx.runs[t.name])
		if !ok {
			continue
		}
		for _, level := range b.rateLevels {
			rate := top.reqPerSec * float64(level) / 100
			var line []string
			for _, p := range peers {
				if ctx.Err() != nil {
					return
				}
				r, err := runRate(ctx, fmt.Sprintf("127.0.0.1:%d", p.port), t.file, rate, b.duration)
				if err != nil {
					p.note("%s at %d%%: %v", t.name, level, err)
					continue
				}
				if r.errors > 0 {
					p.note("%s at %d%%: %d failed requests", t.name, level, r.errors)
				}
				if p.rates == nil {
					p.rates = map[rateKey]rateResult{}
				}
				p.rates[rateKey{t.name, level}] = r
				line = append(line, fmt.Sprintf("%s p99 %.2f ms", p.name, ms(r.p99)))
			}
			logf("fixed rate %s at %d%% of nginx (%.0f/s): %s", t.name, level, rate, strings.Join(line, ", "))
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// reportRates writes the fixed-rate table: p50, p99 and p99.9 of each
// server at each level, with p99 against nginx's.
func (b *bench) reportRates(w io.Writer) {
	if len(b.rateLevels) == 0 {
		return
	}
	var nginx *peer
	for _, p := range b.peers {
		if p.name == "nginx" {
			nginx = p
		}
	}
	fmt.Fprintf(w, "\nFixed request rates (%d keep-alive connections, each request timed from when it was due; %s per run), latency in ms:\n\n", rateConns, b.duration)
	fmt.Fprintln(w, "| target | load | rate /s | server | achieved /s | p50 | p99 | p99.9 | p99 vs nginx |")
	fmt.Fprintln(w, "|---|---:|---:|---|---:|---:|---:|---:|---:|")
	for _, t := range targets {
		for _, level := range b.rateLevels {
			key := rateKey{t.name, level}
			var base rateResult
			okBase := false
			if nginx != nil {
				base, okBase = nginx.rates[key]
			}
			for _, p := range b.peers {
				r, ok := p.rates[key]
				if !ok {
					continue
				}
				fmt.Fprintf(w, "| %s | %d%% | %.0f | %s | %.0f | %.2f | %.2f | %.2f | %s |\n", t.name, level, r.rate, p.name,
					r.achieved, ms(r.p50), ms(r.p99), ms(r.p999), ratio(float64(r.p99), float64(base.p99), okBase && base.p99 > 0))
			}
		}
	}
}
