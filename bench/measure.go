//go:build linux

package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// checkedPaths are the URLs whose answers are compared with what brisk
// promises a browser; "/" is included because a site's entry is usually
// requested by directory, and servers differ in how they map it.
var checkedPaths = []struct{ url, file, label string }{
	{"/", htmlPath, "/"},
	{"/" + htmlPath, htmlPath, "html"},
	{"/" + jsPath, jsPath, "js"},
	{"/" + wasmPath, wasmPath, "wasm"},
}

// fetch GETs url with acceptEncoding (none if empty) and reads the body.
func fetch(ctx context.Context, client *http.Client, url, acceptEncoding string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, nil, err
	}
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// plainClient is how verify asks over HTTP/1.1: without transparent gzip,
// so that we see exactly what the server sent.
func plainClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}
}

// verify asks one running server at base for each checked path with
// `Accept-Encoding: br` (and once without, to compare validators) and notes
// every way the answer differs from the .br sidecar served as a browser
// needs it. Deviations are recorded, not fatal: they are part of the
// comparison.
func verify(ctx context.Context, p *peer, base string, client *http.Client, s *site) {
	defer client.CloseIdleConnections()
	type finding struct {
		what   string
		labels []string
	}
	var findings []*finding
	add := func(label, format string, args ...any) {
		what := fmt.Sprintf(format, args...)
		for _, f := range findings {
			if f.what == what {
				f.labels = append(f.labels, label)
				return
			}
		}
		findings = append(findings, &finding{what, []string{label}})
	}
	get := func(url, acceptEncoding string) (*http.Response, []byte, error) {
		return fetch(ctx, client, base+url, acceptEncoding)
	}

	for _, c := range checkedPaths {
		resp, body, err := get(c.url, "br")
		if err != nil {
			add(c.label, "request failed: %v", err)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			add(c.label, "status %d", resp.StatusCode)
			continue
		}
		if ce := resp.Header.Get("Content-Encoding"); ce != "br" {
			add(c.label, "Content-Encoding %q, not br", ce)
		} else if !bytes.Equal(body, s.br[c.file]) {
			add(c.label, "body is not the .br sidecar (%d bytes, sidecar %d)", len(body), len(s.br[c.file]))
		}
		ct := resp.Header.Get("Content-Type")
		switch mt, _, _ := mime.ParseMediaType(ct); {
		case c.file == wasmPath && ct != "application/wasm":
			// Exactly: instantiateStreaming rejects anything else,
			// parameters included.
			add(c.label, "Content-Type %q (streaming compile needs exactly application/wasm)", ct)
		case c.file == htmlPath && mt != "text/html":
			add(c.label, "Content-Type %q", ct)
		case c.file == jsPath && mt == "application/javascript":
			add(c.label, "Content-Type %q (obsolete alias of text/javascript, RFC 9239)", ct)
		case c.file == jsPath && mt != "text/javascript":
			add(c.label, "Content-Type %q", ct)
		}
		if !hasToken(resp.Header.Values("Vary"), "accept-encoding") {
			add(c.label, "no Vary: Accept-Encoding")
		}
		if resp.ContentLength < 0 {
			add(c.label, "no Content-Length (%s)", strings.Join(resp.TransferEncoding, ","))
		}
		if c.file == wasmPath {
			p.wasmHeaders = headerSummary(resp)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			add(c.label, "no ETag")
			continue
		}
		// A validator must name one representation: if the br and the
		// identity answers share it, a cache may revalidate one with the
		// other's ETag and be told 304 for the wrong bytes.
		if plain, _, err := get(c.url, ""); err == nil && plain.Header.Get("ETag") == etag {
			add(c.label, "same ETag for br and identity")
		}
	}
	for _, f := range findings {
		p.note("%s: %s", strings.Join(f.labels, ", "), f.what)
	}
}

// headerSummary lists the headers that decide how a browser fetches,
// caches and compiles the wasm, to show side by side what each server
// sends beyond pass/fail.
func headerSummary(resp *http.Response) string {
	var parts []string
	for _, h := range []string{"Content-Type", "Content-Length", "ETag", "Last-Modified", "Vary", "Cache-Control", "Accept-Ranges", "X-Content-Type-Options"} {
		v := strings.Join(resp.Header.Values(h), ", ")
		switch {
		case h == "Content-Length" && resp.ContentLength >= 0:
			v = strconv.FormatInt(resp.ContentLength, 10)
		case h == "Content-Length":
			parts = append(parts, "Content-Length none ("+strings.Join(resp.TransferEncoding, ",")+")")
			continue
		case v == "":
			parts = append(parts, h+" none")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s `%s`", h, v))
	}
	return strings.Join(parts, ", ")
}

// hasToken reports whether a comma-separated header (all its lines) lists
// token, case-insensitively.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// coldStart starts a fresh instance of p, connects as soon as it listens,
// requests the wasm with br, and returns the times from exec to the first
// and to the last byte of the response. The answer must be the .br sidecar whole, or the
// start counts as an error: a fast wrong answer is no result. The instance
// is stopped before returning.
func coldStart(ctx context.Context, p *peer, dir string, s *site) (first, last time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	port, err := freePort()
	if err != nil {
		return 0, 0, err
	}
	pr, t0, err := p.start(dir, port)
	if err != nil {
		return 0, 0, err
	}
	defer pr.stop()
	conn, err := waitListening(ctx, pr, port, 100*time.Microsecond)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	// Unblock reads on timeout or Ctrl-C rather than waiting for the
	// deadline of a hung server.
	defer context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })()
	req := "GET /" + wasmPath + " HTTP/1.1\r\nHost: 127.0.0.1:" + strconv.Itoa(port) +
		"\r\nAccept-Encoding: br\r\nConnection: close\r\nUser-Agent: benchpeers\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return 0, 0, err
	}
	firstByte := make([]byte, 1)
	if _, err := io.ReadFull(conn, firstByte); err != nil {
		return 0, 0, fmt.Errorf("no response: %w", err)
	}
	first = time.Since(t0)
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(firstByte), conn))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("bad response: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	last = time.Since(t0)
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("reading the body: %w", err)
	case resp.StatusCode != http.StatusOK:
		return 0, 0, fmt.Errorf("status %d", resp.StatusCode)
	case resp.Header.Get("Content-Encoding") != "br":
		return 0, 0, fmt.Errorf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	case !bytes.Equal(body, s.br[wasmPath]):
		return 0, 0, errors.New("body is not the .br sidecar")
	}
	return first, last, nil
}

// coldStarts measures n cold starts of each peer, interleaved (a, b, c, a,
// b, c, …) so that a burst of load elsewhere on the machine hits every
// server alike instead of skewing one.
func coldStarts(ctx context.Context, peers []*peer, tmp string, n int, s *site) {
	for i := range n {
		var line []string
		for _, p := range peers {
			if ctx.Err() != nil {
				return
			}
			first, last, err := coldStart(ctx, p, filepath.Join(tmp, "cold", fmt.Sprintf("%s-%d", p.name, i)), s)
			if err != nil {
				p.coldErrs = append(p.coldErrs, err.Error())
				line = append(line, p.name+" error")
				continue
			}
			p.cold = append(p.cold, first)
			p.coldLast = append(p.coldLast, last)
			line = append(line, fmt.Sprintf("%s %.1f / %.1f ms", p.name, ms(first), ms(last)))
		}
		logf("cold start %d/%d: %s", i+1, n, strings.Join(line, ", "))
	}
}

// medianRun picks the run with the median req/s (the lower middle for an
// even count), so that its latency percentiles come from the same run as
// the throughput reported. ok is false without runs.
func medianRun(runs []wrkResult) (wrkResult, bool) {
	return medianBy(runs, func(r wrkResult) float64 { return r.reqPerSec })
}

// medianBy picks the element with the median rate, as medianRun does.
func medianBy[T any](runs []T, rate func(T) float64) (T, bool) {
	if len(runs) == 0 {
		var zero T
		return zero, false
	}
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b T) int { return cmp.Compare(rate(a), rate(b)) })
	return sorted[(len(sorted)-1)/2], true
}

func medianDuration(ds []time.Duration) (time.Duration, bool) {
	if len(ds) == 0 {
		return 0, false
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
