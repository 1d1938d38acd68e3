//go:build linux

// Command bench compares brisk with the servers people would otherwise
// put in front of a precompressed WebAssembly app (nginx with brotli_static,
// h2o, Caddy), serving the same files and the same .br sidecars, so that
// "as fast as nginx" is a number anyone can reproduce on a Debian machine
// rather than a claim.
//
//	go run .                          # synthetic ~1.8 MB wasm (~460 KB br)
//	go run . -install                 # apt-get the peers and wrk first (root)
//	go run . -wasm /tmp/realwasm/automerge-automerge-wasm/automerge_wasm_bg.wasm
//	go run . -servers brisk,nginx -rounds 5 -duration 10s
//	go run . -servers brisk,nginx,nginx-1w -rounds 0 -cold 61 -wasm-size 4194304   # cold starts only
//	go run . -servers brisk -rounds 0 -cold 61 -baseline ../../brisk-main          # A/B of two builds
//
// It builds brisk as the Dockerfile does, writes a site of index.html (2 KB),
// small.html (the same page without preload links), pkg/app.js (64 KB) and
// pkg/app_bg.wasm into a temporary directory, and writes their sidecars
// once: with `brisk precompress`, or with -sidecars cli the brotli, zstd and
// gzip commands. Each server then gets its own loopback port
// and a configuration in the temporary directory, tuned as one would in
// production (see peers.go). Before any load, each server is asked for
// every file with `Accept-Encoding: br` and its headers and body are
// compared with what a browser needs; deviations go into the notes column,
// because a server that is fast but sends the wrong Content-Type or no Vary
// is not doing the same work.
//
// Throughput is measured with wrk (2 threads, 64 connections) on three
// targets (small.html: per-request cost; the JS file: a mid-size body;
// the wasm: transfer cost), interleaving the servers run by run and repeating
// -rounds times, so that drift in the machine's load spreads over all of
// them; the table shows the median run. Memory is the resident set of each
// server's process tree after the load. Cold start is the time from exec to
// the first and to the last byte of a br answer for the wasm, the cost a
// scale-to-zero deployment pays, medians of -cold interleaved starts.
// -rates adds latency at fixed request rates, -plain incompressible files
// against a minimal nginx, and -h2 (on by default) HTTP/2 with h2load.
//
// wrk runs on the same machine as the servers and takes cores from them;
// on a small machine the absolute numbers say as much about wrk as about
// the servers, and only the ratios between servers measured alike are
// meaningful. Everything stays on 127.0.0.1, the whole command is bounded
// by -timeout, and every process it starts is stopped by PID when it ends,
// on error, timeout and Ctrl-C too. Linux only: it reads /proc.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// targets are the URLs under load: the small one measures the cost of
// a request, the large one the cost of moving bytes, and js, in between,
// a body too large for one write of net/http's buffer.
var targets = []target{
	{"small", smallPath},
	{"js", jsPath},
	{"large", wasmPath},
}

// target is a file under load, by its name in the report.
type target struct{ name, file string }

func main() {
	os.Exit(run())
}

// run is main with an exit status: 0 when everything was measured, 1 when
// the run failed or was cut short (the partial table is still printed),
// 2 for a bad command line.
func run() int {
	install := flag.Bool("install", false, "apt-get install the peers and wrk first (Debian, as root or with sudo)")
	wasmFile := flag.String("wasm", "", "serve this wasm file as "+wasmPath+" (default: a synthetic module, ~460 KB as br)")
	duration := flag.Duration("duration", 5*time.Second, "length of each load run (wrk, h2load, fixed-rate)")
	rounds := flag.Int("rounds", 3, "wrk runs per server and target; the median is reported (0: no load, cold starts only)")
	cold := flag.Int("cold", 5, "cold starts per server; the median is reported")
	wasmSize := flag.Int("wasm-size", syntheticWasmSize, "size in bytes of the synthetic wasm, without -wasm")
	serverList := flag.String("servers", strings.Join(defaultPeers, ","), "servers to compare, in this order (also: nginx-1w, nginx with one worker)")
	withH2 := flag.Bool("h2", true, "also load brisk (h2c and TLS) and nginx (h2c and TLS) over HTTP/2 with h2load")
	timeout := flag.Duration("timeout", 10*time.Minute, "bound on the whole command, install and build included")
	baseline := flag.String("baseline", "", "`directory` of another brisk checkout, built and measured as brisk-base beside brisk (a paired A/B of two builds)")
	briskArgs := flag.String("brisk-args", "", "extra serve `flags` for brisk (not brisk-base), split on spaces, e.g. \"--metrics-addr 127.0.0.1:0\"")
	rates := flag.String("rates", "", "after the wrk rounds, fixed-rate runs at these `percentages` of nginx's median rate per target, e.g. 25,50,75")
	plain := flag.String("plain", "", "also load incompressible files of these `sizes` in KiB, e.g. 1,4,16,32,64, served identity, against every server and a minimal nginx (nginx-min: sendfile, no brotli_static or gzip_static)")
	sidecars := flag.String("sidecars", "brisk", "`who` writes the site's .br/.zst/.gz sidecars: brisk (brisk precompress, with its manifest) or cli (the brotli, zstd and gzip commands, no manifest)")
	flag.Parse()
	levels, rateErr := parseInts("-rates", *rates, 1, 100, "percentages from 1 to 100, e.g. 25,50,75")
	plainKiB, plainErr := parseInts("-plain", *plain, 1, 1024, "sizes in KiB from 1 to 1024, e.g. 1,4,16,32,64")
	if rateErr == nil {
		rateErr = plainErr
	}
	if rateErr == nil && *sidecars != "brisk" && *sidecars != "cli" {
		rateErr = fmt.Errorf("-sidecars %q: want brisk or cli", *sidecars)
	}
	names, err := parseServers(*serverList)
	if err == nil && (flag.NArg() > 0 || *rounds < 0 || *cold < 1 || *wasmSize < 1024 || *duration < time.Second || *duration%time.Second != 0 || *timeout <= 0) {
		err = errors.New("want no arguments, -rounds ≥ 0, -cold ≥ 1, -wasm-size ≥ 1024, -duration in whole seconds ≥ 1s and -timeout > 0")
	}
	if err == nil {
		err = rateErr
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v (see -help)\n", err)
		return 2
	}

	// Ctrl-C and SIGTERM cancel the context like the timeout does; the
	// deferred stopAll then takes down whatever is running.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeoutCause(ctx, *timeout, fmt.Errorf("-timeout %s reached", *timeout))
	defer cancel()
	defer started.stopAll()

	b := &bench{
		start: time.Now(), loadBefore: loadAvg(), command: commandLine(),
		duration: *duration, rounds: *rounds, coldRuns: *cold, wasmSize: *wasmSize, withH2: *withH2,
		baseline: *baseline, briskArgs: strings.Fields(*briskArgs), rateLevels: levels, cliSidecars: *sidecars == "cli",
		plainKiB: plainKiB,
	}
	err = b.run(ctx, names, *install, *wasmFile)
	started.stopAll()
	b.loadAfter = loadAvg()
	b.elapsed = time.Since(b.start)
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		b.incomplete = err.Error()
		logf("%v", err)
	}
	if b.site != nil {
		b.report(os.Stdout)
	}
	if err != nil {
		return 1
	}
	return 0
}

// parseServers validates -servers: known names, each once.
func parseServers(list string) ([]string, error) {
	var names []string
	for n := range strings.SplitSeq(list, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		switch {
		case n == "":
			continue
		case !slices.Contains(allPeers, n):
			return nil, fmt.Errorf("unknown server %q in -servers (known: %s)", n, strings.Join(allPeers, ", "))
		case slices.Contains(names, n):
			return nil, fmt.Errorf("%s twice in -servers", n)
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, errors.New("-servers is empty")
	}
	return names, nil
}

// bench is one invocation: its setup, its peers and what the report needs.
type bench struct {
	start                 time.Time
	elapsed               time.Duration
	loadBefore, loadAfter string
	command               string
	duration              time.Duration
	rounds                int
	coldRuns              int
	wasmSize              int      // of the synthetic module
	baseline              string   // -baseline: a second checkout to build
	briskArgs             []string // -brisk-args
	wrk                   string
	withH2                bool  // -h2
	rateLevels            []int // -rates
	cliSidecars           bool  // -sidecars cli
	plainKiB              []int // -plain
	plain                 *plainProbe
	h2load                string // empty: no HTTP/2 part
	h2                    []*h2Endpoint
	site                  *site
	peers                 []*peer
	skipped               []string
	incomplete            string
}

func (b *bench) run(ctx context.Context, names []string, install bool, wasmFile string) error {
	if install {
		if err := aptInstall(ctx); err != nil {
			return err
		}
	}
	if w, err := exec.LookPath("wrk"); err == nil {
		b.wrk = w
	} else {
		b.skipped = append(b.skipped, "wrk: not on PATH (Debian: apt-get install wrk, or -install): no throughput measured")
	}
	if !b.withH2 {
		b.skipped = append(b.skipped, "HTTP/2: -h2=false")
	} else if h, err := exec.LookPath("h2load"); err == nil {
		b.h2load = h
	} else {
		b.skipped = append(b.skipped, "h2load: not on PATH (Debian: apt-get install nghttp2-client, or -install): no HTTP/2 measured")
	}

	tmp, err := os.MkdirTemp("", "benchpeers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// Deferred after RemoveAll so that it runs first: no server may still
	// be reading the site, or writing its logs, as the directory goes.
	defer started.stopAll()
	// Started as root, nginx's workers and h2o run as nobody, who must be
	// able to enter the site (MkdirTemp makes the directory 0700).
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	mod, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	brisk := filepath.Join(tmp, "brisk")
	logf("building brisk (CGO_ENABLED=0 -trimpath -ldflags=\"-s -w\")")
	if err := buildBrisk(ctx, mod, brisk); err != nil {
		return err
	}
	if b.site, err = writeSite(ctx, brisk, filepath.Join(tmp, "site"), wasmFile, b.wasmSize, b.cliSidecars); err != nil {
		return err
	}
	var skipped []string
	if len(b.plainKiB) > 0 {
		if b.plain, err = newPlainProbe(ctx, b.site, b.plainKiB); err != nil {
			return err
		}
	}
	b.peers, skipped = findPeers(ctx, names, brisk, b.briskArgs, b.site)
	if b.baseline != "" {
		base := filepath.Join(tmp, "brisk-base")
		logf("building brisk-base from %s", b.baseline)
		if err := buildBrisk(ctx, b.baseline, base); err != nil {
			return err
		}
		p := briskPeer(ctx, "brisk-base", base, b.baseline, nil, b.site)
		p.runs = map[string][]wrkResult{}
		// Right after brisk, so that each round measures the two in turn.
		i := slices.IndexFunc(b.peers, func(p *peer) bool { return p.name == "brisk" }) + 1
		b.peers = slices.Insert(b.peers, i, p)
	}
	b.skipped = append(skipped, b.skipped...)
	for _, s := range b.skipped {
		logf("skipped %s", s)
	}

	// One long-running instance per server for verification, load and RSS.
	var running []*peer
	for _, p := range b.peers {
		if err := b.launch(ctx, p, filepath.Join(tmp, "run", p.name)); err != nil {
			p.note("did not start: %v", err)
			logf("%s did not start: %v", p.name, err)
			continue
		}
		logf("%s listening on 127.0.0.1:%d (pid %d)", p.name, p.port, p.proc.pid)
		verify(ctx, p, fmt.Sprintf("http://127.0.0.1:%d", p.port), plainClient(), b.site)
		running = append(running, p)
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if b.wrk != "" && b.rounds > 0 {
		b.load(ctx, running, targets)
		if len(b.rateLevels) > 0 {
			b.rateRuns(ctx, running)
		}
		if b.plain != nil {
			b.plain.run(ctx, b, running, filepath.Join(tmp, "run"))
		}
	}
	for _, p := range running {
		if kb, detail, err := treeRSS(p.proc.pid); err == nil {
			p.rssKB, p.rssDetail = kb, detail
		} else {
			p.note("RSS: %v", err)
		}
	}
	if b.h2load != "" && b.rounds > 0 && ctx.Err() == nil {
		var tlsPeers []*peer
		b.h2, tlsPeers = b.h2Endpoints(ctx, running, tmp)
		b.loadH2(ctx, b.h2load, b.h2, tmp)
		for _, p := range tlsPeers {
			p.proc.stop()
		}
	}
	for _, p := range running {
		p.proc.stop()
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	coldStarts(ctx, b.peers, tmp, b.coldRuns, b.site)
	return context.Cause(ctx)
}

// launch starts p's long-running instance and waits, bounded, until it
// accepts connections.
func (b *bench) launch(ctx context.Context, p *peer, dir string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	pr, _, err := p.start(dir, port)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := waitListening(wctx, pr, port, time.Millisecond)
	if err != nil {
		pr.stop()
		return err
	}
	conn.Close()
	p.port, p.proc = port, pr
	return nil
}

// load runs wrk against every server, target by target.
func (b *bench) load(ctx context.Context, peers []*peer, targets []target) {
	names := make([]string, len(peers))
	for i, p := range peers {
		names[i] = p.name
	}
	b.interleave(ctx, "", targets, names, func(i int, t target, round int) (float64, error) {
		p := peers[i]
		r, err := runWrk(ctx, b.wrk, fmt.Sprintf("http://127.0.0.1:%d/%s", p.port, t.file), b.duration)
		if err != nil {
			if ctx.Err() == nil {
				p.note("%s round %d: %v", t.name, round+1, err)
			}
			return 0, err
		}
		b.checkRun(p, t.name, t.file, r)
		p.runs[t.name] = append(p.runs[t.name], r)
		return r.reqPerSec, nil
	})
}

// interleave calls measure round by round, target by target, server by
// server, so that consecutive runs of one server are as far apart as
// possible, and logs each round's rates (label names the protocol). A run
// cut short by ctx is neither noted nor logged.
func (b *bench) interleave(ctx context.Context, label string, targets []target, names []string, measure func(i int, t target, round int) (float64, error)) {
	for round := range b.rounds {
		for _, t := range targets {
			var line []string
			for i, name := range names {
				if ctx.Err() != nil {
					return
				}
				rate, err := measure(i, t, round)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					line = append(line, name+" error")
					continue
				}
				line = append(line, fmt.Sprintf("%s %.0f", name, rate))
			}
			logf("%sround %d/%d %s (req/s): %s", label, round+1, b.rounds, t.name, strings.Join(line, ", "))
			// Let the last run's connections and the CPU settle.
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// checkRun notes what wrk saw that the verification could not: error
// answers and socket errors under load, and responses larger than the
// expected body (the .br sidecar, or the file for one without) plus
// headers: a server falling back to identity under load.
func (b *bench) checkRun(p *peer, target, file string, r wrkResult) {
	if r.non2xx > 0 {
		p.note("%s: %d non-2xx answers under load", target, r.non2xx)
	}
	if r.sockErrs != "" {
		p.note("%s: wrk socket errors (%s)", target, r.sockErrs)
	}
	if r.requests > 0 {
		per := r.bytesRead / float64(r.requests)
		body, what := len(b.site.br[file]), ".br"
		if body == 0 {
			body, what = b.site.rawSize[file], "file"
		}
		if limit := float64(body) + 1024; per > limit*1.02 {
			p.note("%s: %.0f bytes per answer under load, more than the %s (%d) and headers", target, per, what, body)
		}
	}
}

// aptInstall installs every peer and wrk from Debian. apt-get update comes
// first because a fresh image's package lists are empty.
func aptInstall(ctx context.Context) error {
	var prefix []string
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return errors.New("-install needs root or sudo")
		}
		// sudo resets the environment but takes assignments before the command.
		prefix = []string{"sudo", "DEBIAN_FRONTEND=noninteractive"}
	}
	for _, args := range [][]string{{"apt-get", "update"}, append([]string{"apt-get", "install", "-y"}, aptPackages...)} {
		args = append(slices.Clone(prefix), args...)
		logf("%s", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
		}
	}
	return nil
}

// report prints the markdown table and everything needed to reproduce or
// question it.
func (b *bench) report(w io.Writer) {
	var nginx *peer
	for _, p := range b.peers {
		if p.name == "nginx" {
			nginx = p
		}
	}
	rate := func(p *peer, target string) (float64, bool) {
		if p == nil {
			return 0, false
		}
		r, ok := medianRun(p.runs[target])
		return r.reqPerSec, ok
	}

	var others []string
	for _, p := range b.peers {
		if p.name != "brisk" {
			others = append(others, p.name)
		}
	}
	fmt.Fprintf(w, "## brisk vs %s: precompressed WebAssembly app\n", strings.Join(others, ", "))
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- Date: %s; took %s\n", b.start.Format("2006-01-02 15:04 MST"), b.elapsed.Round(time.Second))
	fmt.Fprintf(w, "- Machine: %s, nproc %d, %s RAM, Linux %s; load average before %s, after %s\n",
		cpuModel(), runtime.NumCPU(), memTotal(), kernel(), b.loadBefore, b.loadAfter)
	var versions []string
	for _, p := range b.peers {
		versions = append(versions, p.name+" "+p.version)
	}
	if b.wrk != "" {
		out, _ := exec.Command(b.wrk, "-v").CombinedOutput() // wrk -v exits 1 after printing
		v, _, _ := strings.Cut(string(out), "[")
		versions = append(versions, strings.TrimSpace(v))
	}
	fmt.Fprintf(w, "- Versions: %s\n", strings.Join(versions, "; "))
	fmt.Fprintf(w, "- Command: `%s`\n", b.command)
	s := b.site
	fmt.Fprintf(w, "- Site: `%s` %d B (br %d; `%s` the same page without its preload links), `%s` %d B (br %d), `%s` %s %d B (br %d); sidecars written once by %s, shared by all servers\n",
		htmlPath, s.rawSize[htmlPath], len(s.br[htmlPath]), smallPath, jsPath, s.rawSize[jsPath], len(s.br[jsPath]),
		wasmPath, s.wasmSource, s.rawSize[wasmPath], len(s.br[wasmPath]), s.sidecarsBy)
	fmt.Fprintf(w, "- Load: `wrk -t2 -c64 -d%s --latency -H 'Accept-Encoding: br'`; small = `/%s` (the page without its preload links: wrk would count brisk's 103 Early Hints as responses), js = `/%s`, large = `/%s`; %d rounds, servers interleaved; median run shown (req/s and its p50/p99); wrk shares the machine's cores with the server\n",
		wrkSeconds(b.duration), smallPath, jsPath, wasmPath, b.rounds)
	fmt.Fprintf(w, "- Cold start: exec to the first and to the last byte of a br `GET /%s` (answer checked whole), medians of %d starts, interleaved; RSS: VmRSS summed over the server's process tree after the load, MiB\n",
		wasmPath, b.coldRuns)
	if b.incomplete != "" {
		fmt.Fprintf(w, "- **Incomplete:** %s\n", b.incomplete)
	}
	fmt.Fprintln(w)

	head, rule := []string{"server"}, []string{"---"}
	for _, t := range targets {
		head = append(head, t.name+" req/s", t.name+" vs nginx")
		rule = append(rule, "---:", "---:")
	}
	for _, t := range targets {
		head = append(head, t.name+" p50 / p99 ms")
		rule = append(rule, "---:")
	}
	head = append(head, "cold start ms (first / last byte)", "RSS MB", "notes")
	rule = append(rule, "---:", "---:", "---")
	fmt.Fprintf(w, "| %s |\n|%s|\n", strings.Join(head, " | "), strings.Join(rule, "|"))
	for _, p := range b.peers {
		cells := []string{p.name}
		for _, t := range targets {
			r, ok := medianRun(p.runs[t.name])
			base, okBase := rate(nginx, t.name)
			cells = append(cells, num(r.reqPerSec, 0, ok), ratio(r.reqPerSec, base, ok && okBase))
		}
		for _, t := range targets {
			if r, ok := medianRun(p.runs[t.name]); ok {
				cells = append(cells, fmt.Sprintf("%s / %s", num(ms(r.p50), 2, true), num(ms(r.p99), 2, true)))
			} else {
				cells = append(cells, "–")
			}
		}
		first, ok := medianDuration(p.cold)
		last, _ := medianDuration(p.coldLast)
		coldCell := num(ms(first), 1, ok)
		if ok {
			coldCell += " / " + num(ms(last), 1, ok)
		}
		cells = append(cells, coldCell, num(float64(p.rssKB)/1024, 1, p.rssKB > 0))
		notes := slices.Clone(p.notes)
		if len(p.coldErrs) > 0 {
			notes = append(notes, fmt.Sprintf("%d of %d cold starts failed", len(p.coldErrs), len(p.coldErrs)+len(p.cold)))
		}
		if len(notes) == 0 {
			notes = []string{"as expected"}
		}
		cells = append(cells, strings.ReplaceAll(strings.Join(notes, "; "), "|", "\\|"))
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	b.reportRates(w)
	if b.plain != nil {
		b.plain.report(w, b)
	}
	b.reportH2(w)
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Configurations (all on 127.0.0.1, one port each, config files in the temporary directory):")
	for _, p := range b.peers {
		fmt.Fprintf(w, "- %s: %s\n", p.name, p.config)
	}
	fmt.Fprintf(w, "\nHeaders of each server's br answer for `/%s`:\n", wasmPath)
	for _, p := range b.peers {
		if p.wasmHeaders != "" {
			fmt.Fprintf(w, "- %s: %s\n", p.name, p.wasmHeaders)
		}
	}
	var details []string
	for _, p := range b.peers {
		if p.rssDetail != "" {
			details = append(details, fmt.Sprintf("%s = %s", p.name, p.rssDetail))
		}
	}
	if len(details) > 0 {
		fmt.Fprintf(w, "\nRSS by process (MiB): %s\n", strings.Join(details, "; "))
	}
	for _, p := range b.peers {
		for i, e := range p.coldErrs {
			if i == 2 {
				fmt.Fprintf(w, "- %s: %d more cold start errors\n", p.name, len(p.coldErrs)-i)
				break
			}
			fmt.Fprintf(w, "- %s cold start error: %s\n", p.name, e)
		}
	}
	if len(b.skipped) > 0 {
		fmt.Fprintln(w, "\nSkipped:")
		for _, s := range b.skipped {
			fmt.Fprintf(w, "- %s\n", s)
		}
	}
}

func num(v float64, prec int, ok bool) string {
	if !ok || math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func ratio(v, base float64, ok bool) string {
	if !ok || base == 0 {
		return "–"
	}
	return strconv.FormatFloat(v/base, 'f', 2, 64) + "×"
}

// logf reports progress on stderr, keeping stdout for the table.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			if kb, err := strconv.ParseFloat(strings.Fields(v)[0], 64); err == nil {
				return fmt.Sprintf("%.0f GiB", kb/(1<<20))
			}
		}
	}
	return "? GiB"
}

// loadAvg is the 1, 5 and 15 minute load, reported because other work on
// the machine moves every number in the table.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// commandLine is how we were invoked, quoted so that it can be pasted into
// a shell; a binary that go run built is shown as that go run.
func commandLine() string {
	words := []string{os.Args[0]}
	if strings.Contains(os.Args[0], "go-build") {
		words = []string{"cd", "bench", "&&", "go", "run", "."}
	}
	for _, a := range os.Args[1:] {
		plain := a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,@%+-") == ""
		if !plain {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// parseInts reads a comma-separated list of integers from lo to hi for
// the flag name; want says what the flag takes.
func parseInts(name, list string, lo, hi int, want string) ([]int, error) {
	var ns []int
	for f := range strings.SplitSeq(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%s %q: want %s", name, list, want)
		}
		ns = append(ns, n)
	}
	return ns, nil
}
