//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The samples in testdata are verbatim output of h2load 1.52 (Debian's
// nghttp2-client) run against brisk on loopback: h2c to a page (whose 103
// Early Hints h2load counts as a 3xx), TLS to the wasm, and a refused
// port.
func TestParseH2load(t *testing.T) {
	tests := []struct {
		file    string
		want    h2Result
		wantErr bool
	}{
		{file: "h2load-h2c.txt", want: h2Result{reqPerSec: 3713.00, done: 7426, dataBytes: 12215770, protocol: "h2c"}},
		{file: "h2load-tls.txt", want: h2Result{reqPerSec: 29.00, done: 58, dataBytes: 135574915, protocol: "h2"}},
		{file: "h2load-refused.txt", wantErr: true},
	}
	for _, tt := range tests {
		out, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseH2load(string(out))
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v, want error %v", tt.file, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.file, got, tt.want)
		}
	}
}

func TestH2Percentiles(t *testing.T) {
	var log strings.Builder
	for i := 1; i <= 200; i++ { // 1..200 ms
		log.WriteString("1796128932093442\t200\t" + strconv.Itoa(i*1000) + "\n")
	}
	p50, p99, err := h2Percentiles(strings.NewReader(log.String()))
	if err != nil || p50 != 101*time.Millisecond || p99 != 199*time.Millisecond {
		t.Errorf("p50 %v, p99 %v, %v; want 101ms and 199ms", p50, p99, err)
	}
	if _, _, err := h2Percentiles(strings.NewReader("")); err == nil {
		t.Error("an empty log gave percentiles")
	}
}

// Every row of the HTTP/2 table has as many cells as its header, whatever
// the targets (the header once named two targets while rows held three).
func TestReportH2ColumnsMatchRows(t *testing.T) {
	runs := map[string][]h2Result{}
	for _, tg := range targets {
		runs[tg.name] = []h2Result{{reqPerSec: 100, p50: time.Millisecond, p99: 2 * time.Millisecond}}
	}
	b := &bench{rounds: 1, duration: time.Second, h2: []*h2Endpoint{
		{name: "brisk h2c", base: "http://127.0.0.1:1", runs: runs, peer: &peer{}},
		{name: "nginx h2c", base: "http://127.0.0.1:2", runs: runs, peer: &peer{config: "nginx"}, notes: notes{"a note"}},
	}}
	var out strings.Builder
	b.reportH2(&out)
	var widths []int
	for line := range strings.Lines(out.String()) {
		if strings.HasPrefix(line, "|") {
			widths = append(widths, strings.Count(strings.TrimSpace(line), "|"))
		}
	}
	if len(widths) != 4 {
		t.Fatalf("want a header, a rule and 2 rows, got %d table lines:\n%s", len(widths), out.String())
	}
	for i, w := range widths {
		if w != widths[0] {
			t.Errorf("table line %d has %d cell borders, the header %d:\n%s", i+1, w, widths[0], out.String())
		}
	}
}
