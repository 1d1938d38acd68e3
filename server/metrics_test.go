package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/brisk-server/brisk/compress"
)

// scrapeText asks srv's metrics handler for the exposition.
func scrapeText(t *testing.T, srv *Server) string {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.scrape(rec, httptest.NewRequest("GET", MetricsPath, nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("scrape: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	return rec.Body.String()
}

// parseMetrics reads an exposition with Prometheus' own parser, so that
// a format error fails the test, and returns every sample by its name
// and labels as Prometheus prints them (name{a="x",b="y"}), histogram
// buckets, sum and count included.
func parseMetrics(t *testing.T, text string) map[string]float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, text)
	}
	samples := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			key := func(suffix string, extra ...*dto.LabelPair) string {
				var labels []string
				for _, l := range append(m.GetLabel(), extra...) {
					labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
				}
				if len(labels) == 0 {
					return name + suffix
				}
				return name + suffix + "{" + strings.Join(labels, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				samples[key("")] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				samples[key("")] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				samples[key("_count")] = float64(h.GetSampleCount())
				samples[key("_sum")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					name, value := "le", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
					samples[key("_bucket", &dto.LabelPair{Name: &name, Value: &value})] = float64(b.GetCumulativeCount())
				}
			default:
				t.Errorf("%s: unexpected type %v", name, f.GetType())
			}
		}
	}
	return samples
}

func TestMetricsCountResponses(t *testing.T) {
	codings, _ := compress.NewCodings("br,zstd,gzip", compress.Fast)
	store, err := compress.Open(testFiles(), compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	before := parseMetrics(t, scrapeText(t, New(Config{Source: store, Metrics: true})))
	if before["brisk_variants_pending{encoding=\"br\"}"] != 5 {
		t.Errorf("br variants pending before precompressing: %v, want 5", before["brisk_variants_pending{encoding=\"br\"}"])
	}
	store.Precompress(context.Background())
	srv := New(Config{Source: store, Metrics: true})
	wasm, _ := store.Snapshot().Lookup("pkg/app_bg.wasm")
	var brSize, gzSize int64
	for _, v := range wasm.Variants() {
		switch v.Coding {
		case "br":
			brSize = v.Size
		case "gzip":
			gzSize = v.Size
		}
	}
	etag := do(t, srv, "GET", "/pkg/app_bg.wasm", "Accept-Encoding", "br").Header.Get("Etag")
	do(t, srv, "GET", "/pkg/app_bg.wasm", "Accept-Encoding", "br")
	do(t, srv, "GET", "/pkg/app_bg.wasm", "Accept-Encoding", "gzip")
	do(t, srv, "GET", "/pkg/app_bg.wasm")
	do(t, srv, "HEAD", "/pkg/app_bg.wasm", "Accept-Encoding", "br")
	do(t, srv, "GET", "/pkg/app_bg.wasm", "Accept-Encoding", "br", "If-None-Match", etag)
	do(t, srv, "GET", "/pkg/app_bg.wasm", "Accept-Encoding", "br", "Range", "bytes=0-9")
	do(t, srv, "GET", "/missing.js")
	do(t, srv, "GET", "/../x")

	got := parseMetrics(t, scrapeText(t, srv))
	n := float64(len(cleartext)) // do sends each request over every protocol
	for name, want := range map[string]float64{
		`brisk_http_requests_total{code="2xx",encoding="br"}`:       4 * n, // 2 GET, HEAD, range
		`brisk_http_requests_total{code="2xx",encoding="gzip"}`:     1 * n,
		`brisk_http_requests_total{code="2xx",encoding="identity"}`: 1 * n,
		`brisk_http_requests_total{code="3xx",encoding="identity"}`: 1 * n, // the 304
		`brisk_http_requests_total{code="4xx",encoding="identity"}`: 2 * n,
		`brisk_http_response_body_bytes_total{encoding="br"}`:       float64(2*brSize+10) * n,
		`brisk_http_response_body_bytes_total{encoding="gzip"}`:     float64(gzSize) * n,
		// Whole compressed bodies only: not the HEAD, not the range.
		`brisk_http_saved_bytes_total{encoding="br"}`:   float64(2*(wasm.Identity.Size-brSize)) * n,
		`brisk_http_saved_bytes_total{encoding="gzip"}`: float64(wasm.Identity.Size-gzSize) * n,
		`brisk_variants_pending{encoding="br"}`:         0,
		`brisk_encodes_total{encoding="zstd"}`:          5,
		`brisk_snapshot_generation`:                     1,
		`brisk_snapshot_files`:                          float64(store.Snapshot().Len()),
		`brisk_http_requests_in_flight`:                 0,
		`brisk_upstream_request_duration_seconds_count`: 0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if got[`brisk_encode_seconds_total{encoding="br"}`] <= 0 {
		t.Error("no br encode time counted")
	}
	// Zero until the first collection, which the encodes above have
	// long caused.
	if live, ok := got["go_gc_heap_live_bytes"]; !ok || live <= 0 || live > 1<<30 {
		t.Errorf("go_gc_heap_live_bytes = %v (present %v)", live, ok)
	}
}

// A scrape goes to a listener of its own: it reaches none of the site's
// routes, and scraping alone lets the server go idle and exit.
func TestMetricsListenerIsApart(t *testing.T) {
	store, err := compress.Open(fstest.MapFS{"index.html": {Data: []byte("<p>hi</p>")}}, compress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Source: store, Metrics: true, IdleTimeout: 400 * time.Millisecond})
	site, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsDone := make(chan error, 1)
	go func() { metricsDone <- srv.ServeMetrics(mln) }()
	ran := make(chan StopReason, 1)
	started := time.Now()
	go func() { reason, _ := srv.Run(context.Background(), site); ran <- reason }()

	metricsURL := "http://" + mln.Addr().String()
	for _, tc := range []struct {
		url  string
		want int
	}{
		{metricsURL + MetricsPath, 200},
		{metricsURL + "/", 404},
		{metricsURL + "/index.html", 404},
		{"http://" + site.Addr().String() + MetricsPath, 404}, // not a file of the site
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.url, resp.StatusCode, tc.want)
		}
	}
	// Keep scraping, well within the idle timeout each time.
	stopScraping := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopScraping:
				return
			case <-time.After(50 * time.Millisecond):
				if resp, err := http.Get(metricsURL + MetricsPath); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}
	}()
	defer close(stopScraping)
	select {
	case reason := <-ran:
		if reason != StopIdle {
			t.Errorf("Run stopped: %q, want idle", reason)
		}
		t.Logf("idle exit %s after start while scraped every 50 ms", time.Since(started).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("scrapes kept the server awake")
	}
	select {
	case err := <-metricsDone:
		if err != nil {
			t.Errorf("ServeMetrics: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the metrics listener outlived the server")
	}
}
