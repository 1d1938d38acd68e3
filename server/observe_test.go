package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brisk-server/brisk/compress"
	"github.com/brisk-server/brisk/internal/testkit"
)

// accessRecords returns the access log records in l, in order.
func accessRecords(t *testing.T, l *testkit.Log) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "request" {
			out = append(out, rec)
		}
	}
	return out
}

func jsonLogger(l *testkit.Log) *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func TestAccessLog(t *testing.T) {
	codings, _ := compress.NewCodings("br", compress.Fast)
	store, err := compress.Open(testFiles(), compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	store.Precompress(context.Background())
	proxied := []string{"Fly-Client-Ip", "203.0.113.9", "X-Forwarded-For", "198.51.100.1, 192.0.2.7"}
	for _, tc := range []struct {
		name       string
		trust      bool
		header     []string
		wantClient string
	}{
		{"the peer by default", false, proxied, "192.0.2.1"},
		{"Fly-Client-IP when trusted", true, proxied, "203.0.113.9"},
		{"the last X-Forwarded-For entry when trusted", true, []string{"X-Forwarded-For", "198.51.100.1, 192.0.2.7"}, "192.0.2.7"},
		{"the peer when trusted but not told", true, nil, "192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs testkit.Log
			srv := New(Config{Source: store, AccessLog: true, TrustProxyHeaders: tc.trust, Logger: jsonLogger(&logs)})
			// In process, with httptest's peer address (192.0.2.1):
			// over a real connection the peer is always 127.0.0.1.
			resp := doInProcess(t, srv, "GET", "/pkg/app.js", append([]string{"Accept-Encoding", "br"}, tc.header...)...)
			n := len(body(t, resp))
			doInProcess(t, srv, "HEAD", "/missing", tc.header...)
			recs := accessRecords(t, &logs)
			if len(recs) != 2 {
				t.Fatalf("%d access log lines, want 2:\n%s", len(recs), logs.String())
			}
			want := map[string]any{"method": "GET", "path": "/pkg/app.js", "status": 200.0, "coding": "br", "bytes": float64(n), "client": tc.wantClient}
			for k, v := range want {
				if recs[0][k] != v {
					t.Errorf("%s = %v, want %v", k, recs[0][k], v)
				}
			}
			if d, ok := recs[0]["duration"].(float64); !ok || d <= 0 {
				t.Errorf("duration %v", recs[0]["duration"])
			}
			if _, ok := recs[0]["time"]; !ok {
				t.Error("no time")
			}
			if recs[1]["status"] != 404.0 || recs[1]["method"] != "HEAD" || recs[1]["bytes"] != 0.0 || recs[1]["coding"] != "identity" {
				t.Errorf("second line: %v", recs[1])
			}
		})
	}
}

// With metrics and the access log on, every response still goes out as
// without them: a 103 before a page, a body from disk (sendfile), a
// streamed proxy response, a WebSocket upgrade; and each is counted with
// its final status.
func TestObservedResponsesPassThrough(t *testing.T) {
	dir := t.TempDir()
	big := testText(300_000)
	page := `<html><head><link rel="modulepreload" href="/big.js"></head><body>hi</body></html>`
	for name, data := range map[string][]byte{"big.js": big, "index.html": []byte(page)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store, err := compress.OpenDir(dir, compress.Config{MemoryBudget: 1000}) // big.js stays on disk
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	release := make(chan struct{})
	up := ssrStandIn(t, release)
	upURL, _ := url.Parse(up.URL)
	var logs testkit.Log
	srv := New(Config{Source: store, Upstream: upURL, Metrics: true, AccessLog: true, Logger: jsonLogger(&logs)})
	base := newLoopbackServer(t, srv)
	addr := strings.TrimPrefix(base, "http://")

	out := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 103 Early Hints\r\n") || !strings.Contains(out, "HTTP/1.1 200 OK\r\n") {
		t.Errorf("page: want a 103 then a 200, got:\n%s", out)
	}
	if resp, b := fetch(t, "GET", base+"/big.js"); resp.StatusCode != 200 || !bytes.Equal(b, big) {
		t.Errorf("file from disk: %d, %d bytes", resp.StatusCode, len(b))
	}

	resp, err := http.Get(base + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("<html><body>first chunk"))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("first chunk of the stream: %v", err)
	}
	close(release)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	pingThroughWebSocket(t, addr)

	var recs []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for len(recs) < 4 && time.Now().Before(deadline) { // the WebSocket's line comes when it closes
		time.Sleep(10 * time.Millisecond)
		recs = accessRecords(t, &logs)
	}
	got := map[string]float64{}
	for _, r := range recs {
		got[r["path"].(string)] = r["status"].(float64)
		if r["path"] == "/big.js" && r["bytes"] != float64(len(big)) {
			t.Errorf("/big.js: %v bytes logged, want %d", r["bytes"], len(big))
		}
	}
	want := map[string]float64{"/": 200, "/big.js": 200, "/stream": 200, "/ws": 101}
	for p, status := range want {
		if got[p] != status {
			t.Errorf("%s logged with status %v, want %v (all: %v)", p, got[p], status, got)
		}
	}
	m := parseMetrics(t, scrapeText(t, srv))
	if m[`brisk_upstream_requests_total{code="2xx"}`] != 1 || m[`brisk_upstream_requests_total{code="1xx"}`] != 1 ||
		m[`brisk_upstream_request_duration_seconds_count`] != 2 {
		t.Errorf("upstream metrics: 2xx %v, 1xx %v, count %v", m[`brisk_upstream_requests_total{code="2xx"}`],
			m[`brisk_upstream_requests_total{code="1xx"}`], m[`brisk_upstream_request_duration_seconds_count`])
	}
}

// Observing allocates nothing per request: the writer is pooled.
func TestObservingAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	store, err := compress.Open(fstest.MapFS{"app.js": {Data: testText(5000)}}, compress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Source: store, Metrics: true})
	req, _ := http.NewRequest("GET", "/app.js", nil)
	w := &discardWriter{h: http.Header{}}
	allocs := testing.AllocsPerRun(100, func() {
		clear(w.h)
		srv.ServeHTTP(w, req)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per request with metrics on", allocs)
	}
}

// skipUnderRace skips an allocation count: sync.Pool, which echo and the
// observing writer use, drops items at random under the race detector.
// .ci/run runs these tests again without it.
func skipUnderRace(t *testing.T) {
	if testkit.RaceEnabled {
		t.Skip("allocations are not measurable under the race detector")
	}
}
