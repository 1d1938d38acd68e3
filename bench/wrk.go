//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrkResult is what one wrk run reports that the table uses.
type wrkResult struct {
	reqPerSec float64
	p50, p99  time.Duration
	requests  int64
	bytesRead float64 // as wrk prints it, so only to 3 significant digits
	non2xx    int64   // "Non-2xx or 3xx responses"
	sockErrs  string  // wrk's "Socket errors" line, if any
}

// runWrk runs one wrk measurement. The flags are fixed (2 threads, 64
// connections) so that tables from different machines and days compare; the
// Accept-Encoding header makes every server pick its .br sidecar. wrk gets
// its own process group and a bound of duration plus a margin, so that a
// hung run cannot outlive -timeout.
func runWrk(ctx context.Context, wrk, url string, d time.Duration) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, wrk, "-t2", "-c64", "-d"+wrkSeconds(d), "--latency", "-H", "Accept-Encoding: br", url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return parseWrk(string(out))
}

// wrkSeconds writes d as whole seconds: wrk reads "90s" but neither Go's
// "1m30s" nor fractions (-duration is validated to whole seconds).
func wrkSeconds(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// parseWrk reads the summary wrk 4 prints with --latency. It wants at least
// Requests/sec and the 50 % and 99 % lines of the latency distribution; the
// request count, bytes, non-2xx count and socket errors are read when
// present, because they reveal a server that answered fast but wrongly.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRate, have50, have99 bool
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk Requests/sec %q: %w", f[1], err)
			}
			r.reqPerSec, haveRate = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.p50, have50 = d, true
			} else {
				r.p99, have99 = d, true
			}
		case len(f) >= 6 && f[1] == "requests" && f[2] == "in" && f[5] == "read":
			// "57526 requests in 2.02s, 20.57MB read"
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk request count %q: %w", f[0], err)
			}
			b, err := parseWrkBytes(f[4])
			if err != nil {
				return r, err
			}
			r.requests, r.bytesRead = n, b
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk non-2xx count %q: %w", f[len(f)-1], err)
			}
			r.non2xx = n
		case strings.HasPrefix(strings.TrimSpace(line), "Socket errors:"):
			r.sockErrs = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "Socket errors:"))
		}
	}
	if !haveRate || !have50 || !have99 {
		return r, errors.New("wrk output lacks Requests/sec or the 50%/99% latency lines")
	}
	return r, nil
}

// parseWrkDuration reads wrk's latency format: a number with one of the
// units us, ms, s, m or h (wrk picks the unit per value).
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				break
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("wrk latency %q: unknown format", s)
}

// parseWrkBytes reads wrk's byte counts ("20.57MB", "3.08GB", "512.00B"),
// whose units are powers of 1024.
func parseWrkBytes(s string) (float64, error) {
	for i, suffix := range []string{"TB", "GB", "MB", "KB", "B"} {
		if num, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				break
			}
			for range 4 - i {
				v *= 1024
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("wrk byte count %q: unknown format", s)
}
