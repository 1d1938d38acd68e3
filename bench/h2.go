//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The HTTP/2 part of the benchmark: what an edge proxy speaking HTTP/2 to
// the app gets (Fly's, with h2_backend, speaks h2c), and what a browser
// gets from a server terminating TLS itself. h2load (nghttp2-client) loads
// brisk and nginx (brotli_static, the same sidecars) each over h2c on a
// plain port and over TLS, the same certificate for both.

// h2Endpoint is one way of reaching a server over HTTP/2.
type h2Endpoint struct {
	name string
	peer *peer  // the server
	base string // scheme://127.0.0.1:port
	runs map[string][]h2Result
	notes
}

// h2Result is what one h2load run reports that the table uses.
type h2Result struct {
	reqPerSec    float64
	p50, p99     time.Duration // from the per-request log
	done, failed int64
	dataBytes    int64  // response bodies, as h2load counts them
	protocol     string // "h2c" or "h2", as negotiated
}

// h2Streams is the load: 2 threads, 16 connections, 4 streams each, so 64
// requests in flight, as wrk's 64 connections.
var h2Args = []string{"-t2", "-c16", "-m4"}

// makeCert writes a self-signed P-256 certificate for localhost and
// 127.0.0.1 with openssl, shared by the TLS servers so that they do the
// same handshake work.
func makeCert(ctx context.Context, dir string) (certFile, keyFile string, err error) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		return "", "", errors.New("openssl not on PATH (Debian: apt-get install openssl)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cmd := exec.CommandContext(ctx, openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=localhost",
		"-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("openssl: %w: %s", err, out)
	}
	// Started as root, nginx's workers run as nobody and read the key.
	return certFile, keyFile, os.Chmod(keyFile, 0o644)
}

// h2Endpoints starts the HTTP/2 instances that are not running yet (nginx
// on a plain port speaking h2c, brisk and nginx over TLS; the caller stops
// them) and returns the endpoints to load, in pairs of brisk and nginx:
// h2c first (brisk's running plain port), then TLS.
func (b *bench) h2Endpoints(ctx context.Context, running []*peer, tmp string) (eps []*h2Endpoint, started []*peer) {
	var brisk, nginx *peer
	for _, p := range running {
		switch p.name {
		case "brisk":
			brisk = p
		case "nginx":
			nginx = p
		}
	}
	if brisk == nil {
		b.skipped = append(b.skipped, "HTTP/2: brisk is not among -servers")
		return nil, nil
	}
	add := func(p *peer, scheme string) {
		if p == nil {
			return
		}
		if p.proc == nil {
			if err := b.launch(ctx, p, filepath.Join(tmp, "run", p.name)); err != nil {
				logf("%s did not start: %v", p.name, err)
				b.skipped = append(b.skipped, fmt.Sprintf("%s: did not start: %v", p.name, err))
				return
			}
			logf("%s listening on 127.0.0.1:%d (pid %d)", p.name, p.port, p.proc.pid)
			started = append(started, p)
		}
		name := strings.Replace(strings.Replace(p.name, "-tls", " TLS", 1), "-h2c", " h2c", 1)
		if p == brisk {
			name = "brisk h2c"
		}
		eps = append(eps, &h2Endpoint{name: name, peer: p, base: fmt.Sprintf("%s://127.0.0.1:%d", scheme, p.port)})
	}
	add(brisk, "http")
	add(h2Variant(nginx, "h2c", "", ""), "http")
	if certFile, keyFile, err := makeCert(ctx, filepath.Join(tmp, "tls")); err != nil {
		b.skipped = append(b.skipped, "HTTP/2 over TLS: "+err.Error())
	} else {
		add(h2Variant(brisk, "tls", certFile, keyFile), "https")
		add(h2Variant(nginx, "tls", certFile, keyFile), "https")
	}
	for _, ep := range eps {
		ep.runs = map[string][]h2Result{}
		checked := &peer{name: ep.name}
		verify(ctx, checked, ep.base, h2Client(ep.base), b.site)
		ep.notes = checked.notes
	}
	return eps, started
}

// h2Variant is p serving the same site over HTTP/2: "tls" with the given
// certificate, or for nginx "h2c" on a plain port. nil for servers without
// such a variant here.
func h2Variant(p *peer, mode, certFile, keyFile string) *peer {
	if p == nil {
		return nil
	}
	q := *p
	q.name, q.notes, q.runs, q.proc, q.port = p.name+"-"+mode, nil, nil, nil, 0
	prepare := p.prepare
	switch {
	case p.name == "brisk" && mode == "tls":
		q.prepare = func(dir string, port int) ([]string, []string, error) {
			args, env, err := prepare(dir, port)
			root := args[len(args)-1]
			return append(args[:len(args)-1:len(args)-1], "--tls-cert", certFile, "--tls-key", keyFile, root), env, err
		}
		q.config = "as brisk, plus `--tls-cert C --tls-key K`"
	case p.name == "nginx":
		// nginx ends an HTTP/2 connection after keepalive_requests (1000
		// by default), and h2load counts the streams then in flight as
		// failed; brisk sets no such limit.
		listen := "listen 127.0.0.1:%d http2;\n        keepalive_requests 1000000;"
		q.config = "as nginx, with `listen ... http2` (h2c with prior knowledge) and `keepalive_requests 1000000`"
		if mode == "tls" {
			listen = "listen 127.0.0.1:%d ssl http2;\n        keepalive_requests 1000000;\n        ssl_certificate " + certFile + ";\n        ssl_certificate_key " + keyFile + ";"
			q.config = "as nginx, with `listen ... ssl http2`, `ssl_certificate C` and `keepalive_requests 1000000`"
		}
		q.prepare = func(dir string, port int) ([]string, []string, error) {
			args, env, err := prepare(dir, port)
			if err != nil {
				return nil, nil, err
			}
			conf := filepath.Join(dir, "nginx.conf")
			data, err := os.ReadFile(conf)
			if err != nil {
				return nil, nil, err
			}
			plain := fmt.Sprintf("listen 127.0.0.1:%d;", port)
			if !strings.Contains(string(data), plain) {
				return nil, nil, errors.New("nginx.conf has no listen line to change")
			}
			return args, env, os.WriteFile(conf, []byte(strings.Replace(string(data), plain, fmt.Sprintf(listen, port), 1)), 0o644)
		}
	default:
		return nil
	}
	return &q
}

// h2Client speaks HTTP/2 only: h2c to a plain port, h2 by ALPN over TLS,
// accepting the benchmark's self-signed certificate.
func h2Client(base string) *http.Client {
	p := new(http.Protocols)
	if strings.HasPrefix(base, "https://") {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: &http.Transport{Protocols: p, DisableCompression: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
}

// h2Rate is what medianBy ranks h2load runs by.
func h2Rate(r h2Result) float64 { return r.reqPerSec }

// loadH2 runs h2load against every endpoint, interleaved as load does
// with wrk.
func (b *bench) loadH2(ctx context.Context, h2load string, eps []*h2Endpoint, tmp string) {
	names := make([]string, len(eps))
	for i, ep := range eps {
		names[i] = ep.name
	}
	logFile := filepath.Join(tmp, "h2load.log")
	b.interleave(ctx, "h2 ", targets, names, func(i int, t target, round int) (float64, error) {
		ep := eps[i]
		r, err := runH2load(ctx, h2load, ep.base+"/"+t.file, b.duration, logFile)
		if err != nil {
			if ctx.Err() == nil {
				ep.note("%s round %d: %v", t.name, round+1, err)
			}
			return 0, err
		}
		b.checkH2Run(ep, t.name, t.file, r)
		ep.runs[t.name] = append(ep.runs[t.name], r)
		return r.reqPerSec, nil
	})
}

// checkH2Run notes failed requests, a protocol other than HTTP/2, and
// bodies larger than the .br sidecar (identity sent under load).
func (b *bench) checkH2Run(ep *h2Endpoint, target, file string, r h2Result) {
	if r.failed > 0 {
		ep.note("%s: %d failed requests", target, r.failed)
	}
	if want := map[bool]string{true: "h2", false: "h2c"}[strings.HasPrefix(ep.base, "https")]; r.protocol != want {
		ep.note("%s: h2load spoke %q, not %s", target, r.protocol, want)
	}
	if r.done > 0 {
		if per := float64(r.dataBytes) / float64(r.done); per > float64(len(b.site.br[file]))*1.02+64 {
			ep.note("%s: %.0f body bytes per answer, more than the .br (%d)", target, per, len(b.site.br[file]))
		}
	}
}

// runH2load runs one timed h2load measurement with br accepted and reads
// latency percentiles from its per-request log.
func runH2load(ctx context.Context, h2load, url string, d time.Duration, logFile string) (h2Result, error) {
	ctx, cancel := context.WithTimeout(ctx, d+20*time.Second)
	defer cancel()
	args := append(slices.Clone(h2Args), "-D", strconv.FormatInt(int64(d/time.Second), 10),
		"-H", "Accept-Encoding: br", "--log-file="+logFile, url)
	cmd := exec.CommandContext(ctx, h2load, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return h2Result{}, fmt.Errorf("h2load: %w: %s", err, logTail(logFile))
	}
	r, err := parseH2load(string(out))
	if err != nil {
		return r, err
	}
	f, err := os.Open(logFile)
	if err != nil {
		return r, err
	}
	defer f.Close()
	r.p50, r.p99, err = h2Percentiles(f)
	return r, err
}

// parseH2load reads h2load 1.52's summary. Its "status codes" line counts
// a 103 Early Hints as a 3xx, and the final 200 of the same request not
// at all, so statuses are not checked here; the succeeded and failed
// counts are.
func parseH2load(out string) (h2Result, error) {
	var r h2Result
	var haveRate, haveReqs bool
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "finished in "):
			// "finished in 2.01s, 3713.00 req/s, 5.98MB/s"
			f := strings.Split(line, ", ")
			if len(f) < 2 || !strings.HasSuffix(f[1], " req/s") {
				return r, fmt.Errorf("h2load: %q", line)
			}
			v, err := strconv.ParseFloat(strings.TrimSuffix(f[1], " req/s"), 64)
			if err != nil {
				return r, fmt.Errorf("h2load req/s: %w", err)
			}
			r.reqPerSec, haveRate = v, true
		case strings.HasPrefix(line, "requests: "):
			// "requests: 7426 total, 7490 started, 7426 done, 7426 succeeded, 0 failed, 0 errored, 0 timeout"
			for _, part := range strings.Split(strings.TrimPrefix(line, "requests: "), ", ") {
				n, what, _ := strings.Cut(part, " ")
				v, err := strconv.ParseInt(n, 10, 64)
				if err != nil {
					return r, fmt.Errorf("h2load requests %q: %w", part, err)
				}
				switch what {
				case "done":
					r.done = v
				case "failed":
					r.failed = v
				}
			}
			haveReqs = true
		case strings.HasPrefix(line, "traffic: "):
			// "traffic: 11.95MB (12531138) total, 22.82KB (23365) headers (...), 11.65MB (12215770) data"
			i := strings.LastIndex(line, "(")
			j := strings.LastIndex(line, ") data")
			if i < 0 || j < i {
				return r, fmt.Errorf("h2load: %q", line)
			}
			v, err := strconv.ParseInt(line[i+1:j], 10, 64)
			if err != nil {
				return r, fmt.Errorf("h2load data bytes: %w", err)
			}
			r.dataBytes = v
		case strings.HasPrefix(line, "Application protocol: "):
			r.protocol = strings.TrimPrefix(line, "Application protocol: ")
		}
	}
	if !haveRate || !haveReqs {
		return r, errors.New("h2load output lacks the finished or requests line")
	}
	if r.done == 0 {
		return r, fmt.Errorf("h2load: no request done (%d failed)", r.failed)
	}
	return r, nil
}

// h2Percentiles reads h2load's --log-file (tab-separated: start time µs,
// status, µs until the end of the response) and returns the median and the
// 99th percentile of the last column.
func h2Percentiles(r io.Reader) (p50, p99 time.Duration, err error) {
	var us []int64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 3 {
			continue
		}
		v, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("h2load log %q: %w", sc.Text(), err)
		}
		us = append(us, v)
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if len(us) == 0 {
		return 0, 0, errors.New("h2load log is empty")
	}
	slices.Sort(us)
	at := func(q float64) time.Duration {
		return time.Duration(us[min(len(us)-1, int(q*float64(len(us))))]) * time.Microsecond
	}
	return at(0.50), at(0.99), nil
}

// reportH2 prints the HTTP/2 table, each ratio against nginx over the
// same protocol (h2c or TLS).
func (b *bench) reportH2(w io.Writer) {
	if len(b.h2) == 0 {
		return
	}
	// Each endpoint is compared with nginx over the same protocol.
	nginxFor := func(ep *h2Endpoint) *h2Endpoint {
		for _, o := range b.h2 {
			if strings.HasPrefix(o.name, "nginx") && strings.HasPrefix(o.base, strings.Split(ep.base, ":")[0]+":") {
				return o
			}
		}
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### HTTP/2 (h2load)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "`h2load %s -D %d -H 'Accept-Encoding: br' URL --log-file=…`; %d rounds, endpoints interleaved, median run shown; p50/p99 from the per-request log. The small target has no preload links, so brisk sends it no 103 Early Hints (h2load would count one as a response).\n\n",
		strings.Join(h2Args, " "), int64(b.duration/time.Second), b.rounds)
	// One group of columns per target, in the order the rows fill them.
	head, rule := []string{"endpoint"}, []string{"---"}
	for _, t := range targets {
		head = append(head, t.name+" req/s", t.name+" vs nginx", t.name+" p50 / p99 ms")
		rule = append(rule, "---:", "---:", "---:")
	}
	fmt.Fprintf(w, "| %s | notes |\n|%s|---|\n", strings.Join(head, " | "), strings.Join(rule, "|"))
	for _, ep := range b.h2 {
		cells := []string{ep.name}
		base := nginxFor(ep)
		for _, t := range targets {
			r, ok := medianBy(ep.runs[t.name], h2Rate)
			var baseRate float64
			okBase := false
			if base != nil {
				var br h2Result
				br, okBase = medianBy(base.runs[t.name], h2Rate)
				baseRate = br.reqPerSec
			}
			cells = append(cells, num(r.reqPerSec, 0, ok), ratio(r.reqPerSec, baseRate, ok && okBase))
			if ok {
				cells = append(cells, fmt.Sprintf("%s / %s", num(ms(r.p50), 2, true), num(ms(r.p99), 2, true)))
			} else {
				cells = append(cells, "–")
			}
		}
		notes := ep.notes
		if len(notes) == 0 {
			notes = []string{"as expected"}
		}
		cells = append(cells, strings.ReplaceAll(strings.Join(notes, "; "), "|", "\\|"))
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	for _, ep := range b.h2 {
		config := ep.peer.config
		if ep.name == "brisk h2c" {
			config = "the brisk above, on its plain port: h2c with prior knowledge, as Fly's proxy speaks to an app with h2_backend"
		}
		fmt.Fprintf(w, "- %s: %s\n", ep.name, config)
	}
}
