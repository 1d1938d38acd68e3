//go:build linux

// Command coldstart measures how long a freshly started server takes to
// answer its first request: from the moment the server process is exec'd
// to the first byte of a brotli response for a ~4 MB wasm. That number is
// what a scale-to-zero deployment (Fly.io machines that stop when idle)
// costs the visitor who wakes the app, and it is what `brisk precompress`
// exists to make small, so it gets its own reproducible measurement.
//
// Run it from the repository:
//
//	go run ./cmd/coldstart                        # synthetic 4 MiB wasm, 20 runs per server
//	go run ./cmd/coldstart -n 50 -wasm /tmp/realwasm/astral-sh-ruff-wasm-web/ruff_wasm_bg.wasm
//	go run ./cmd/coldstart -brisk ./brisk         # use an existing binary instead of building one
//
// What it does:
//
//  1. Builds brisk as the Dockerfile does (CGO_ENABLED=0, -trimpath,
//     -ldflags="-s -w") into a temporary directory, unless -brisk is given.
//  2. Writes a site with index.html and pkg/app_bg.wasm: the -wasm file, or
//     a deterministic synthetic module that compresses like real
//     wasm-bindgen output (brotli to about 29 %, gzip to about 35 %), and
//     runs `brisk precompress` on it once. That takes seconds (brotli 11)
//     and is setup, not measured.
//  3. For each run, interleaving the servers (brisk, nginx, brisk, nginx, …)
//     so that drift in the machine affects both alike: picks a free
//     loopback port, notes the time, execs the server, tries to connect
//     every ~100 µs, and on the first successful connect (time to listen)
//     sends `GET /pkg/app_bg.wasm` with `Accept-Encoding: br` and
//     `Connection: close`, noting when the first response byte arrives
//     (time to first byte). The whole response must be a 200 with
//     Content-Encoding br, Content-Type application/wasm, and a body equal
//     to the .br sidecar byte for byte; anything else counts as an error,
//     not as a result. The server is then stopped by its PID (SIGTERM, then
//     SIGKILL after 2 s) and reaped.
//  4. Prints a markdown table with the median, p10 and p90 time to first
//     byte, the median time to listen, and the errors, with the machine,
//     the date and the command line, so that a pasted table says where it
//     came from.
//
// nginx (with the brotli_static module: on Debian, `apt-get install nginx
// libnginx-mod-http-brotli-static`) is the baseline when it is on PATH and
// skipped with a note otherwise. It runs as in production, with
// `master_process on` and one worker, so its number includes forking the
// worker; `daemon off` only keeps the master in the foreground so that it
// is the process we exec and stop.
//
// The page cache is warm (the files were just written), as it is on a
// machine whose image is already on its local disk; a first start from a
// cold disk adds the disk's latency to both servers. Everything stays on
// 127.0.0.1, the whole command is bounded by -timeout, and every process it
// starts is stopped by PID before it exits, on error and on Ctrl-C too.
// Linux only: it reads /proc and uses process groups and nanosleep.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
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

const (
	// wasmPath is where wasm-bindgen/Trunk put the module, relative to the root.
	wasmPath = "pkg/app_bg.wasm"
	// syntheticSize is the size of the generated module: a mid-sized
	// Leptos or Yew app in release mode.
	syntheticSize = 4 << 20
	// pollInterval is how often we try to connect while the server starts:
	// fine enough not to blur millisecond results, coarse enough that the
	// polling does not steal a core from the server on a small machine.
	pollInterval = 100 * time.Microsecond
	// runLimit bounds one start: a server that has not answered by then is
	// broken, not slow.
	runLimit = 10 * time.Second
	// stopGrace is how long a server may take to exit after SIGTERM.
	stopGrace = 2 * time.Second
)

func main() {
	os.Exit(run())
}

// run is main with an exit code: 0 when every run answered correctly, 1 on
// any error or an incomplete measurement, 2 for a bad command line.
func run() int {
	n := flag.Int("n", 20, "runs per server")
	briskBin := flag.String("brisk", "", "brisk binary to measure (default: build ./cmd/brisk)")
	wasmFile := flag.String("wasm", "", "wasm file to serve as "+wasmPath+" (default: a synthetic 4 MiB module)")
	timeout := flag.Duration("timeout", 2*time.Minute, "bound on the whole command, setup included")
	flag.Parse()
	if *n < 1 || *timeout <= 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "coldstart: want -n ≥ 1, -timeout > 0 and no arguments (see -help)")
		return 2
	}

	// Ctrl-C or SIGTERM cancels the context like the timeout does; the
	// deferred stops below then take down whatever server is running.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeoutCause(ctx, *timeout, fmt.Errorf("-timeout %s reached", *timeout))
	defer cancel()

	tmp, err := os.MkdirTemp("", "coldstart-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	// nginx started as root serves as an unprivileged worker user, which
	// must be able to enter the directory (MkdirTemp makes it 0700).
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fail(err)
	}

	b, err := setup(ctx, tmp, *briskBin, *wasmFile)
	if err != nil {
		if ctx.Err() != nil { // the child's "signal: killed" would hide why
			err = fmt.Errorf("setup stopped: %w", context.Cause(ctx))
		}
		return fail(err)
	}

	servers := []*server{briskServer(b)}
	if ng, why := nginxServer(tmp, b.site); ng != nil {
		servers = append(servers, ng)
	} else {
		b.skipped = "nginx skipped: " + why
		logf("%s", b.skipped)
	}

	logf("measuring %d runs per server, interleaved", *n)
	b.loadBefore = loadAverage()
	incomplete := ""
	for i := range *n {
		// A round counts only once every server has had its run, so that
		// an interrupted table still compares the same rounds.
		results := make([]result, len(servers))
		errs := make([]error, len(servers))
		for j, s := range servers {
			results[j], errs[j] = s.once(ctx, b.want)
			if ctx.Err() != nil {
				break
			}
		}
		if ctx.Err() != nil {
			incomplete = fmt.Sprintf("stopped after %d of %d rounds: %v", i, *n, context.Cause(ctx))
			break
		}
		var line []string
		for j, s := range servers {
			if errs[j] != nil {
				s.errs = append(s.errs, errs[j])
				line = append(line, s.name+" error: "+errs[j].Error())
				continue
			}
			s.results = append(s.results, results[j])
			line = append(line, fmt.Sprintf("%s %.2f ms", s.name, ms(results[j].firstByte)))
		}
		logf("run %d/%d: %s", i+1, *n, strings.Join(line, ", "))
	}

	b.loadAfter = loadAverage()
	report(os.Stdout, b, servers, incomplete)
	if incomplete != "" {
		return 1
	}
	for _, s := range servers {
		if len(s.errs) > 0 {
			return 1
		}
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "coldstart:", err)
	return 1
}

// logf reports progress on stderr, so that stdout is only the report.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "coldstart: "+format+"\n", args...)
}

// bench is what the setup produced: the site and what it must serve.
type bench struct {
	brisk        string // binary
	briskVersion string
	site         string // root directory
	wasmSource   string // where the wasm came from, for the report
	wasmSize     int
	want         []byte // the .br sidecar: the exact body a correct answer carries
	// loadBefore and loadAfter are /proc/loadavg around the measurement:
	// anything else using the CPU inflates every time, and a table should
	// say so.
	loadBefore, loadAfter string
	skipped               string // why a server was not measured
}

// setup builds brisk, writes the site and precompresses it. None of it is
// measured.
func setup(ctx context.Context, tmp, briskBin, wasmFile string) (*bench, error) {
	b := &bench{site: filepath.Join(tmp, "site")}
	var err error
	if briskBin != "" {
		if b.brisk, err = filepath.Abs(briskBin); err != nil {
			return nil, err
		}
	} else {
		b.brisk = filepath.Join(tmp, "brisk")
		if err := buildBrisk(ctx, b.brisk); err != nil {
			return nil, err
		}
	}
	out, err := exec.CommandContext(ctx, b.brisk, "version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s version: %w", b.brisk, err)
	}
	b.briskVersion = strings.TrimSpace(string(out))

	var wasm []byte
	if wasmFile != "" {
		if wasm, err = os.ReadFile(wasmFile); err != nil {
			return nil, err
		}
		b.wasmSource = filepath.Base(wasmFile)
	} else {
		wasm = syntheticWasm(syntheticSize)
		b.wasmSource = "synthetic"
	}
	b.wasmSize = len(wasm)
	if err := os.MkdirAll(filepath.Join(b.site, "pkg"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(b.site, "index.html"), []byte(indexHTML), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(b.site, wasmPath), wasm, 0o644); err != nil {
		return nil, err
	}

	logf("brisk precompress %s (%d bytes of wasm; brotli 11 takes a while)", b.site, len(wasm))
	start := time.Now()
	cmd := exec.CommandContext(ctx, b.brisk, "precompress", "--log-level", "warn", b.site)
	cmd.Env = cleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("brisk precompress: %w\n%s", err, out)
	}
	logf("precompressed in %s", time.Since(start).Round(time.Millisecond))
	if b.want, err = os.ReadFile(filepath.Join(b.site, wasmPath+".br")); err != nil {
		return nil, fmt.Errorf("no brotli sidecar after precompress: %w", err)
	}
	return b, nil
}

const indexHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>coldstart</title></head>
<body><script type="module">
WebAssembly.compileStreaming(fetch("/pkg/app_bg.wasm"));
</script></body></html>
`

// buildBrisk builds the brisk of the module we are run from, with the
// flags of the Dockerfile, so that the binary measured is the one deployed.
func buildBrisk(ctx context.Context, out string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(gomod))
	if err != nil || mod == "" || mod == os.DevNull {
		return errors.New("cannot find the brisk module: run from the repository, or pass -brisk")
	}
	logf("building brisk into %s", out)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/brisk")
	cmd.Dir = filepath.Dir(mod)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/brisk: %w\n%s", err, out)
	}
	return nil
}

// cleanEnv is our environment without BRISK_* variables, so that a shell
// that happens to set BRISK_ENCODINGS or BRISK_LOG_LEVEL does not change
// what is measured.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "BRISK_") })
}

// syntheticWasm returns a valid wasm module of exactly size bytes whose
// payload compresses like real compiled Rust: wasm code is a skewed mix of
// recurring instruction sequences and small LEB128 immediates, which is
// what makes brotli take it to a quarter or a third. Random bytes would not
// compress at all and repeated ones would shrink to nothing, and either
// would make the measured transfer unlike a real app's. The module is one
// custom section, so it validates but defines nothing. The generator is
// seeded, so every run of every machine serves the same bytes.
func syntheticWasm(size int) []byte {
	const (
		sectionName = "coldstart.synthetic"
		// Tuned against the npm packages in .ci/fetch-real-wasm, which
		// brotli 11 takes to 24-32 % and gzip 9 to 35-41 %: these give
		// about 29 % and 35 %.
		immediateShare = 0.08
		sequences      = 2000
		skew           = 1.2
	)
	r := rand.New(rand.NewPCG(0xc01d, 0x57a27))
	opcodes := make([]byte, 64)
	for i := range opcodes {
		opcodes[i] = byte(r.IntN(256))
	}
	pickOpcode := rand.NewZipf(r, 1.2, 1, uint64(len(opcodes)-1))
	seqs := make([][]byte, sequences)
	for i := range seqs {
		seqs[i] = make([]byte, 2+r.IntN(10))
		for j := range seqs[i] {
			seqs[i][j] = opcodes[pickOpcode.Uint64()]
		}
	}
	pickSeq := rand.NewZipf(r, skew, 4, uint64(sequences-1))

	header := []byte("\x00asm\x01\x00\x00\x00\x00") // magic, version 1, custom section id
	name := appendLEB128(nil, uint64(len(sectionName)))
	name = append(name, sectionName...)
	// The section size's own length depends on the size; 4 bytes of
	// LEB128 cover any module under 256 MiB, padded to always be 4.
	payload := size - len(header) - 4 - len(name)
	if payload < 0 {
		panic("synthetic wasm too small")
	}
	out := make([]byte, 0, size+16)
	out = append(out, header...)
	out = appendPaddedLEB128(out, uint64(len(name)+payload), 4)
	out = append(out, name...)
	for len(out) < size {
		if r.Float64() < immediateShare {
			out = appendLEB128(out, r.Uint64()>>(63-r.IntN(20)))
		} else {
			out = append(out, seqs[pickSeq.Uint64()]...)
		}
	}
	return out[:size]
}

func appendLEB128(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// appendPaddedLEB128 writes v in exactly n bytes, which LEB128 allows (the
// wasm spec accepts redundant 0x80 continuation bytes up to 5 for u32).
func appendPaddedLEB128(b []byte, v uint64, n int) []byte {
	for range n - 1 {
		b = append(b, byte(v&0x7f)|0x80)
		v >>= 7
	}
	return append(b, byte(v&0x7f))
}

// server is one server under test and what its runs gave.
type server struct {
	name    string
	version string
	note    string // how it was configured, for the report
	bin     string
	// args returns the command line for one start on port, writing any
	// configuration it needs (not measured).
	args    func(port int) ([]string, error)
	logFile string // the server's stdout and stderr (and error log)
	results []result
	errs    []error
}

func briskServer(b *bench) *server {
	return &server{
		name: "brisk", version: b.briskVersion, bin: b.brisk,
		note:    "`brisk serve --addr 127.0.0.1:PORT SITE`, sidecars and manifest from `brisk precompress`",
		logFile: filepath.Join(filepath.Dir(b.site), "brisk.log"),
		args: func(port int) ([]string, error) {
			return []string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port), b.site}, nil
		},
	}
}

// nginxServer returns nginx configured as a production static server
// would be, or nil and why it cannot run here.
func nginxServer(tmp, site string) (*server, string) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, "nginx is not on PATH (Debian: apt-get install -y nginx libnginx-mod-http-brotli-static)"
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, err.Error()
	}
	// nginx -V and -v write to stderr.
	info, _ := exec.Command(bin, "-V").CombinedOutput()
	version, _, _ := strings.Cut(strings.TrimPrefix(string(info), "nginx version: "), "\n")
	modules := "/usr/lib/nginx/modules"
	if _, after, ok := strings.Cut(string(info), "--modules-path="); ok {
		modules = strings.Fields(after)[0]
	}
	module := filepath.Join(modules, "ngx_http_brotli_static_module.so")
	if _, err := os.Stat(module); err != nil {
		return nil, "no brotli_static module at " + module + " (Debian: apt-get install -y libnginx-mod-http-brotli-static)"
	}
	prefix := filepath.Join(tmp, "nginx")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err.Error()
	}
	conf := filepath.Join(prefix, "nginx.conf")
	errorLog := filepath.Join(prefix, "error.log")
	return &server{
		name: "nginx", version: version, bin: bin,
		note:    "`master_process on`, 1 worker, brotli_static and gzip_static on, access log off",
		logFile: errorLog,
		args: func(port int) ([]string, error) {
			return []string{"-p", prefix + "/", "-c", conf, "-e", errorLog},
				os.WriteFile(conf, []byte(nginxConf(prefix, errorLog, module, site, port)), 0o644)
		},
	}, ""
}

// nginxConf is the smallest configuration that serves the site as brisk
// does. Temporary paths point into the prefix so that nothing outside the
// temporary directory is touched (or required to exist).
func nginxConf(prefix, errorLog, module, site string, port int) string {
	return fmt.Sprintf(`load_module %[3]s;
daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[2]s;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    brotli_static on;
    gzip_static on;
    gzip_vary on;
    types {
        application/wasm wasm;
        text/html html;
    }
    server {
        listen 127.0.0.1:%[5]d;
        root %[4]s;
        access_log off;
    }
}
`, prefix, errorLog, module, site, port)
}

// result is one correct cold start, both times measured from just before exec.
type result struct {
	listen    time.Duration // first successful connect
	firstByte time.Duration // first byte of the response
}

// once starts the server, measures one cold start, checks the answer, and
// stops the server, whatever happened.
func (s *server) once(ctx context.Context, want []byte) (result, error) {
	port, err := freePort()
	if err != nil {
		return result{}, err
	}
	args, err := s.args(port)
	if err != nil {
		return result{}, err
	}
	// Append mode, because nginx writes its error log to the same file.
	logOut, err := os.OpenFile(s.logFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return result{}, err
	}
	defer logOut.Close()
	cmd := exec.Command(s.bin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logOut, logOut
	// Its own process group: a Ctrl-C in the terminal reaches only us, and
	// we stop the server ourselves; and a SIGKILL can take nginx's worker
	// along with its master.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	ctx, cancel := context.WithTimeout(ctx, runLimit)
	defer cancel()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer stop(cmd.Process.Pid, exited)

	r, err := probe(ctx, port, start, want, exited)
	if err != nil {
		select {
		case <-exited:
			err = fmt.Errorf("%w (server exited: %v)", err, waitErr)
		default:
		}
		return r, fmt.Errorf("%w; log: %s", err, tail(s.logFile))
	}
	return r, nil
}

// freePort asks the kernel for a loopback port nobody listens on. Another
// process could take it before the server binds it; the check of the
// answer would then fail the run, not skew it.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// probe connects as soon as the server listens, requests the wasm, and
// returns the times to listen and to first byte once the whole answer has
// been checked.
func probe(ctx context.Context, port int, start time.Time, want []byte, exited <-chan struct{}) (result, error) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	var conn *net.TCPConn
	for {
		var err error
		if conn, err = net.DialTCP("tcp", nil, addr); err == nil {
			break
		}
		select {
		case <-exited:
			return result{}, errors.New("server exited before listening")
		case <-ctx.Done():
			return result{}, fmt.Errorf("not listening: %w", context.Cause(ctx))
		default:
		}
		sleep(pollInterval)
	}
	r := result{listen: time.Since(start)}
	defer conn.Close()
	// Unblock the reads below on Ctrl-C or timeout; the deadline alone
	// would keep a hung server for the full run limit.
	defer context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}

	req := "GET /" + wasmPath + " HTTP/1.1\r\nHost: 127.0.0.1:" + strconv.Itoa(port) +
		"\r\nAccept-Encoding: br\r\nConnection: close\r\nUser-Agent: coldstart\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return r, fmt.Errorf("send request: %w", err)
	}
	buf := make([]byte, len(want)+64<<10)
	n, err := conn.Read(buf)
	if n == 0 {
		return r, fmt.Errorf("no response: %w", err)
	}
	r.firstByte = time.Since(start)
	all := bytes.NewBuffer(buf[:n])
	if _, err := all.ReadFrom(conn); err != nil {
		return r, fmt.Errorf("read response: %w", err)
	}
	return r, check(all.Bytes(), want)
}

// check accepts exactly one answer: the brotli sidecar, whole, as wasm.
func check(raw, want []byte) error {
	br := bufio.NewReader(bytes.NewReader(raw))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("bad response: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return fmt.Errorf("bad body: %w", err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %s", resp.Status)
	case resp.Header.Get("Content-Encoding") != "br":
		return fmt.Errorf("Content-Encoding %q, want br", resp.Header.Get("Content-Encoding"))
	case resp.Header.Get("Content-Type") != "application/wasm":
		return fmt.Errorf("Content-Type %q, want application/wasm", resp.Header.Get("Content-Type"))
	case resp.ContentLength != int64(len(want)):
		return fmt.Errorf("Content-Length %d, want %d", resp.ContentLength, len(want))
	case !bytes.Equal(body, want):
		return errors.New("body differs from the .br sidecar")
	case br.Buffered() > 0:
		return fmt.Errorf("%d bytes after the body", br.Buffered())
	}
	return nil
}

// sleep blocks the thread in nanosleep. time.Sleep would not do: the Go
// scheduler rounds sleeps under 1 ms up to a 1 ms epoll timeout when it
// has nothing else to run, which would quantize time to listen to
// milliseconds; and spinning instead would take a core from the server.
func sleep(d time.Duration) {
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

// stop ends the server by its PID: SIGTERM, as a platform stopping a
// machine would send, then SIGKILL to its process group if it lingers. It
// returns once the process has been reaped.
func stop(pid int, exited <-chan struct{}) {
	select {
	case <-exited:
	default:
		syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopGrace):
			syscall.Kill(-pid, syscall.SIGKILL)
			<-exited
		}
	}
	// A worker that outlived its master (nginx, if the master crashed)
	// would keep the port and a core busy; the group is empty otherwise.
	syscall.Kill(-pid, syscall.SIGKILL)
}

// tail returns the end of a log, to explain a failed run.
func tail(name string) string {
	data, err := os.ReadFile(name)
	if err != nil {
		return err.Error()
	}
	data = bytes.TrimSpace(data)
	if len(data) > 400 {
		data = append([]byte("…"), data[len(data)-400:]...)
	}
	if len(data) == 0 {
		return "(empty)"
	}
	return strings.ReplaceAll(string(data), "\n", " | ")
}

// percentile returns the p-th quantile (0 ≤ p ≤ 1) of sorted values,
// interpolating linearly between the two nearest ranks, so that p10 and
// p90 of 20 runs are not just the 2nd and 18th values. NaN if empty.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := p * float64(len(sorted)-1)
	lo := int(math.Floor(rank))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	if lo < 0 {
		return sorted[0]
	}
	frac := rank - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// report prints the markdown table and what it takes to reproduce it.
func report(w io.Writer, b *bench, servers []*server, incomplete string) {
	fmt.Fprintf(w, "### Cold start: exec to first byte of `GET /%s` (br)\n\n", wasmPath)
	fmt.Fprintln(w, "| server | runs | median TTFB (ms) | p10 (ms) | p90 (ms) | median time to listen (ms) | errors |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, s := range servers {
		var ttfb, listen []float64
		for _, r := range s.results {
			ttfb = append(ttfb, ms(r.firstByte))
			listen = append(listen, ms(r.listen))
		}
		slices.Sort(ttfb)
		slices.Sort(listen)
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %d |\n", s.name, len(s.results)+len(s.errs),
			cell(percentile(ttfb, 0.5)), cell(percentile(ttfb, 0.1)), cell(percentile(ttfb, 0.9)),
			cell(percentile(listen, 0.5)), len(s.errs))
	}
	fmt.Fprintln(w)
	if incomplete != "" {
		fmt.Fprintf(w, "**Incomplete:** %s.\n\n", incomplete)
	}
	fmt.Fprintf(w, "- Payload: `%s`, %s (%d bytes), served as its `.br` sidecar (%d bytes, %.1f %%)\n",
		wasmPath, b.wasmSource, b.wasmSize, len(b.want), 100*float64(len(b.want))/float64(b.wasmSize))
	for _, s := range servers {
		fmt.Fprintf(w, "- %s: %s; %s\n", s.name, s.version, s.note)
	}
	if b.skipped != "" {
		fmt.Fprintf(w, "- %s\n", b.skipped)
	}
	fmt.Fprintf(w, "- Machine: %s, nproc %d, Linux %s, %s\n", cpuModel(), runtime.NumCPU(), osRelease(), runtime.Version())
	fmt.Fprintf(w, "- Load average (1, 5, 15 min) before / after the runs: %s / %s\n", b.loadBefore, b.loadAfter)
	fmt.Fprintf(w, "- Date: %s\n", time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- Command: `%s`\n", commandLine())
	fmt.Fprintln(w, "- Times from just before exec; runs interleaved between servers; warm page cache; statistics over runs without error.")
	for _, s := range servers {
		for i, err := range s.errs {
			if i == 3 {
				fmt.Fprintf(w, "- %s: %d more errors\n", s.name, len(s.errs)-i)
				break
			}
			fmt.Fprintf(w, "- %s error: %v\n", s.name, err)
		}
	}
}

func cell(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(data)) {
		key, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown CPU"
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func osRelease() string {
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(data))
}

// commandLine is how we were invoked, as one could type it again; a binary
// built by `go run` is shown as the `go run` that built it.
func commandLine() string {
	words := []string{os.Args[0]}
	if strings.Contains(os.Args[0], "go-build") {
		words = []string{"go", "run", "./cmd/coldstart"}
	}
	for _, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}
