//go:build linux

package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The table is only as good as the parse of wrk's text, whose units change
// with the values (us/ms/s, MB/GB) and whose error lines appear only when
// something went wrong. The samples in testdata are verbatim output of
// wrk 4.1.0 (Debian) captured against brisk on loopback.
func TestParseWrk(t *testing.T) {
	tests := []struct {
		file    string
		want    wrkResult
		wantErr bool
	}{
		{file: "wrk-small-ms.txt", want: wrkResult{
			reqPerSec: 28453.54, p50: 2210 * time.Microsecond, p99: 13100 * time.Microsecond,
			requests: 57526, bytesRead: 20.57 * (1 << 20),
		}},
		{file: "wrk-large-gb.txt", want: wrkResult{
			reqPerSec: 3430.18, p50: 11240 * time.Microsecond, p99: 41680 * time.Microsecond,
			requests: 7134, bytesRead: 3.08 * (1 << 30),
		}},
		{file: "wrk-us.txt", want: wrkResult{
			reqPerSec: 16000.58, p50: 52 * time.Microsecond, p99: 740 * time.Microsecond,
			requests: 16013, bytesRead: 4.73 * (1 << 20),
		}},
		{file: "wrk-non2xx.txt", want: wrkResult{
			reqPerSec: 38282.07, p50: 1430 * time.Microsecond, p99: 8140 * time.Microsecond,
			requests: 38805, bytesRead: 6.33 * (1 << 20), non2xx: 38805,
		}},
		{file: "wrk-socket-errors.txt", want: wrkResult{
			reqPerSec: 14791.41, p50: 1420 * time.Microsecond, p99: 9470 * time.Microsecond,
			requests: 29714, bytesRead: 10.63 * (1 << 20), sockErrs: "connect 0, read 21, write 69606, timeout 0",
		}},
		// wrk prints only this when nothing listens: no numbers to report.
		{file: "wrk-refused.txt", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			out, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseWrk(string(out))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseWrk = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Durations and bytes go through float64: compare loosely.
			near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
			if !near(got.reqPerSec, tt.want.reqPerSec) || !near(got.bytesRead, tt.want.bytesRead) ||
				!near(float64(got.p50), float64(tt.want.p50)) || !near(float64(got.p99), float64(tt.want.p99)) ||
				got.requests != tt.want.requests || got.non2xx != tt.want.non2xx || got.sockErrs != tt.want.sockErrs {
				t.Errorf("parseWrk =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

// wrk's units come from its own table; the ones a loopback run never shows
// (s, m) still have to parse when a server stalls.
func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"740.00us", 740 * time.Microsecond, false},
		{"13.10ms", 13100 * time.Microsecond, false},
		{"1.02s", 1020 * time.Millisecond, false},
		{"2.00m", 2 * time.Minute, false},
		{"fast", 0, true},
		{"ms", 0, true},
	}
	for _, tt := range tests {
		got, err := parseWrkDuration(tt.in)
		if (err != nil) != tt.err || math.Abs(float64(got-tt.want)) > 1 {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
