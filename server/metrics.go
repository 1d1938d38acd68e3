package server

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// MetricsPath is where ServeMetrics answers, in the Prometheus text format.
const MetricsPath = "/metrics"

// The label values metrics use. Counters live in fixed arrays indexed by
// them, so that counting a request is a few atomic adds and no lookup or
// allocation; the text is only written out when scraped.
var (
	metricCodings = [...]string{"identity", "br", "zstd", "gzip", "dcb", "dcz", "other"}
	statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
	// upstreamBuckets are the upper bounds of the upstream latency
	// histogram, Prometheus' default buckets.
	upstreamBuckets = [...]time.Duration{
		5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
	}
)

const numCodings = len(metricCodings)

func codingIndex(coding string) int {
	for i, name := range metricCodings[:numCodings-1] {
		if name == coding {
			return i
		}
	}
	return numCodings - 1 // other
}

func classIndex(status int) int { return min(max(status/100, 1), 5) - 1 }

// metrics are the counters behind GET /metrics.
type metrics struct {
	requests      [len(statusClasses)][numCodings]atomic.Uint64
	bodyBytes     [numCodings]atomic.Uint64
	savedBytes    [numCodings]atomic.Uint64
	upstream      [len(statusClasses)]atomic.Uint64
	upstreamTimes [len(upstreamBuckets) + 1]atomic.Uint64 // the last is +Inf
	upstreamNanos atomic.Int64
	startup       atomic.Int64 // nanoseconds from Config.Started to serving
}

func (m *metrics) countResponse(status int, coding string, bytes int64) {
	c := codingIndex(coding)
	m.requests[classIndex(status)][c].Add(1)
	m.bodyBytes[c].Add(uint64(bytes))
}

// countSaved adds the bytes a compressed response saved against sending
// the file uncompressed.
func (m *metrics) countSaved(coding string, saved int64) {
	if saved > 0 {
		m.savedBytes[codingIndex(coding)].Add(uint64(saved))
	}
}

func (m *metrics) countUpstream(status int, took time.Duration) {
	m.upstream[classIndex(status)].Add(1)
	i := 0
	for i < len(upstreamBuckets) && took > upstreamBuckets[i] {
		i++
	}
	m.upstreamTimes[i].Add(1)
	m.upstreamNanos.Add(int64(took))
}

// statser is a Source that reports on its work; compress.Store is one.
type statser interface {
	Stats() compress.Stats
}

// ServeMetrics answers GET /metrics on ln, a listener of its own, until
// Shutdown: a scrape never reaches the site's routes and never counts as
// activity for the idle timeout. Config.Metrics must be set.
func (s *Server) ServeMetrics(ln net.Listener) error {
	if s.metrics == nil {
		return errors.New("metrics are off (Config.Metrics)")
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.scrape),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() {
		<-s.stopping
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
	}
	return nil
}

func (s *Server) scrape(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path != MetricsPath:
		s.writeError(w, r, refuse(http.StatusNotFound, nil))
		return
	case !readOnly(r.Method):
		w.Header()["Allow"] = valAllow
		s.writeError(w, r, refuse(http.StatusMethodNotAllowed, nil))
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header()["Cache-Control"] = valNoStore
	if r.Method == http.MethodHead {
		return
	}
	bw := bufio.NewWriter(w)
	s.writeMetrics(bw)
	bw.Flush()
}

// promText writes the Prometheus text exposition format (version 0.0.4).
type promText struct{ w *bufio.Writer }

func (p promText) family(name, typ, help string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// sample writes one line; labels come in name, value pairs.
func (p promText) sample(name string, value float64, labels ...string) {
	p.w.WriteString(name)
	for i := 0; i+1 < len(labels); i += 2 {
		sep := ","
		if i == 0 {
			sep = "{"
		}
		p.w.WriteString(sep + labels[i] + "=" + strconv.Quote(labels[i+1]))
	}
	if len(labels) > 0 {
		p.w.WriteByte('}')
	}
	p.w.WriteByte(' ')
	p.w.WriteString(strconv.FormatFloat(value, 'f', -1, 64))
	p.w.WriteByte('\n')
}

// byCoding writes one sample per coding that has counted anything.
func (p promText) byCoding(name string, counters *[numCodings]atomic.Uint64) {
	for c := range counters {
		if v := counters[c].Load(); v > 0 {
			p.sample(name, float64(v), "encoding", metricCodings[c])
		}
	}
}

func (s *Server) writeMetrics(w *bufio.Writer) {
	m, p := s.metrics, promText{w}
	p.family("brisk_http_requests_total", "counter", "Responses by status class and content coding (health checks included).")
	for class := range m.requests {
		for c := range m.requests[class] {
			if v := m.requests[class][c].Load(); v > 0 {
				p.sample("brisk_http_requests_total", float64(v), "code", statusClasses[class], "encoding", metricCodings[c])
			}
		}
	}
	p.family("brisk_http_response_body_bytes_total", "counter", "Response body bytes sent, by content coding.")
	p.byCoding("brisk_http_response_body_bytes_total", &m.bodyBytes)
	p.family("brisk_http_saved_bytes_total", "counter", "Bytes compressed responses saved against sending the files uncompressed, by coding.")
	p.byCoding("brisk_http_saved_bytes_total", &m.savedBytes)
	p.family("brisk_http_requests_in_flight", "gauge", "Requests being answered (health checks aside).")
	p.sample("brisk_http_requests_in_flight", float64(s.activity.inflight.Load()))
	p.family("brisk_http_connections", "gauge", "Client connections open.")
	p.sample("brisk_http_connections", float64(s.conns.count()))

	p.family("brisk_upstream_requests_total", "counter", "Requests the upstream answered, by status class (502: it did not).")
	for class := range m.upstream {
		if v := m.upstream[class].Load(); v > 0 {
			p.sample("brisk_upstream_requests_total", float64(v), "code", statusClasses[class])
		}
	}
	p.family("brisk_upstream_request_duration_seconds", "histogram", "Time to the last byte of proxied responses.")
	var cumulative uint64
	for i := range m.upstreamTimes {
		cumulative += m.upstreamTimes[i].Load()
		le := "+Inf"
		if i < len(upstreamBuckets) {
			le = strconv.FormatFloat(upstreamBuckets[i].Seconds(), 'f', -1, 64)
		}
		p.sample("brisk_upstream_request_duration_seconds_bucket", float64(cumulative), "le", le)
	}
	p.sample("brisk_upstream_request_duration_seconds_sum", time.Duration(m.upstreamNanos.Load()).Seconds())
	p.sample("brisk_upstream_request_duration_seconds_count", float64(cumulative))

	if src, ok := s.cfg.Source.(statser); ok {
		st := src.Stats()
		p.family("brisk_snapshot_generation", "gauge", "Snapshots of the site published since start (1: as started; one more per rebuild).")
		p.sample("brisk_snapshot_generation", float64(st.Generation))
		p.family("brisk_snapshot_files", "gauge", "Files served in the current snapshot.")
		p.sample("brisk_snapshot_files", float64(st.Files))
		p.family("brisk_memory_used_bytes", "gauge", "Bytes of files and variants held in memory, their sealed copies for sendfile included (see --memory-budget).")
		p.sample("brisk_memory_used_bytes", float64(st.MemoryUsed))
		p.family("brisk_variants_pending", "gauge", "Variants of the current files not encoded yet, by coding.")
		for _, c := range st.Codings {
			p.sample("brisk_variants_pending", float64(c.Pending), "encoding", c.Name)
		}
		p.family("brisk_encode_seconds_total", "counter", "Time spent encoding variants, by coding.")
		for _, c := range st.Codings {
			p.sample("brisk_encode_seconds_total", c.EncodeTime.Seconds(), "encoding", c.Name)
		}
		p.family("brisk_encodes_total", "counter", "Variants encoded, by coding.")
		for _, c := range st.Codings {
			p.sample("brisk_encodes_total", float64(c.Encoded), "encoding", c.Name)
		}
	}
	p.family("brisk_startup_seconds", "gauge", "Time from the start of serving (Config.Started, once the command line is read) to serving.")
	p.sample("brisk_startup_seconds", time.Duration(m.startup.Load()).Seconds())
	p.family("go_goroutines", "gauge", "Goroutines that currently exist.")
	p.sample("go_goroutines", float64(runtime.NumGoroutine()))
	live := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(live)
	if live[0].Value.Kind() == rtmetrics.KindUint64 {
		p.family("go_gc_heap_live_bytes", "gauge", "Heap memory occupied by live objects, as of the last garbage collection: what a leak grows, where RSS also follows the collector's heap goal.")
		p.sample("go_gc_heap_live_bytes", float64(live[0].Value.Uint64()))
	}
}
