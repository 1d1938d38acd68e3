//go:build linux

package main

import (
	"bufio"
	"bytes"
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
// asking for br. Each connection keeps a schedule of its own (every
// rateConns-th slot), as wrk2 does: a request that is late because the
// one before it was slow is timed from when it was due. The client parses
// responses by hand and allocates nothing per request, so that it has no
// pauses of its own to charge to the server.
func runRate(ctx context.Context, addr, path string, rate float64, d time.Duration) (rateResult, error) {
	res := rateResult{rate: rate}
	n := int(rate * d.Seconds())
	if n < 1 {
		return res, fmt.Errorf("rate %.0f/s for %s is no request", rate, d)
	}
	req := []byte("GET /" + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept-Encoding: br\r\nUser-Agent: benchpeers\r\n\r\n")
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	conns := min(rateConns, n)
	latencies := make([][]time.Duration, conns)
	errs := make([]int, conns)
	start := time.Now().Add(10 * time.Millisecond)
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	for k := range conns {
		wg.Go(func() {
			c := rateClient{addr: addr, req: req}
			defer c.close()
			mine := make([]time.Duration, 0, n/conns+1)
			for i := k; i < n && ctx.Err() == nil; i += conns {
				due := start.Add(time.Duration(i) * interval)
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				if c.get(ctx) {
					mine = append(mine, time.Since(due))
				} else {
					errs[k]++
				}
			}
			latencies[k] = mine
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return res, fmt.Errorf("fixed-rate run cut short: %w", context.Cause(ctx))
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	for _, e := range errs {
		res.errors += e
	}
	res.achieved = float64(len(all)) / elapsed.Seconds()
	if len(all) > 0 {
		at := func(q float64) time.Duration { return all[min(int(q*float64(len(all))), len(all)-1)] }
		res.p50, res.p99, res.p999 = at(0.50), at(0.99), at(0.999)
	}
	return res, nil
}

// rateClient is one keep-alive connection of a fixed-rate run.
type rateClient struct {
	addr string
	req  []byte
	conn net.Conn
	br   *bufio.Reader
}

func (c *rateClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// get sends the request and reads its whole answer, reconnecting once if
// the server had closed the connection (nginx does after 1000 requests);
// false means no 200 came back.
func (c *rateClient) get(ctx context.Context) bool {
	for attempt := range 2 {
		if c.conn == nil {
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.addr)
			if err != nil {
				return false
			}
			c.conn = conn
			if c.br == nil {
				c.br = bufio.NewReaderSize(conn, 64<<10)
			} else {
				c.br.Reset(conn)
			}
		}
		status, keep, err := c.exchange()
		if err == nil {
			if !keep {
				c.close()
			}
			return status == http.StatusOK
		}
		c.close()
		if attempt == 1 {
			return false
		}
	}
	return false
}

// exchange writes the request and reads one final response, skipping 1xx
// ones (a 103 Early Hints), and discards its body.
func (c *rateClient) exchange() (status int, keepAlive bool, err error) {
	if err := c.conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return 0, false, err
	}
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, false, err
	}
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		// "HTTP/1.1 200 OK"
		if len(line) < 12 {
			return 0, false, fmt.Errorf("bad status line %q", line)
		}
		status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
		length, keep := int64(0), true
		for {
			h, err := c.br.ReadSlice('\n')
			if err != nil {
				return 0, false, err
			}
			if len(h) <= 2 { // the blank line
				break
			}
			if name, value, ok := bytes.Cut(h, []byte(":")); ok {
				value = bytes.TrimSpace(value)
				switch {
				case bytes.EqualFold(name, []byte("Content-Length")):
					length = parseLength(value)
				case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
					keep = false
				}
			}
		}
		if status < 200 {
			continue
		}
		if _, err := c.br.Discard(int(length)); err != nil {
			return 0, false, err
		}
		return status, keep, nil
	}
}

func parseLength(b []byte) int64 {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
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
				achieved := fmt.Sprintf("%.0f", r.achieved)
				if r.achieved < 0.95*r.rate {
					achieved += " (fell behind)"
				}
				fmt.Fprintf(w, "| %s | %d%% | %.0f | %s | %s | %.2f | %.2f | %.2f | %s |\n", t.name, level, r.rate, p.name,
					achieved, ms(r.p50), ms(r.p99), ms(r.p999), ratio(float64(r.p99), float64(base.p99), okBase && base.p99 > 0))
			}
		}
	}
}
