//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// defaultPeers are the servers compared when -servers is not given, in the
// order the table and the interleaving use: brisk first, then the baseline
// the ratios are relative to.
var defaultPeers = []string{"brisk", "nginx", "h2o", "caddy"}

// allPeers adds those asked for by name only. nginx-1w is nginx with a
// single worker process: the leanest way nginx is run in production, and
// its fastest cold start (one fork, not one per core).
var allPeers = append(slices.Clone(defaultPeers), "nginx-1w")

// aptPackages is what -install asks Debian for: the peers, nginx's
// brotli_static module (nginx cannot serve .br sidecars without it), wrk,
// and h2load and openssl for the HTTP/2 part.
var aptPackages = []string{"nginx", "libnginx-mod-http-brotli-static", "h2o", "caddy", "wrk", "nghttp2-client", "openssl", "brotli", "zstd"}

// peer is one server under test: how to configure and start it, and what
// was measured.
type peer struct {
	name    string
	bin     string
	version string
	config  string // one line for the report: how it was configured
	// prepare writes the configuration for one instance listening on
	// 127.0.0.1:port into dir and returns its arguments and extra
	// environment. It runs before the clock of a cold start starts.
	prepare func(dir string, port int) (args, env []string, err error)

	// The instance the load runs against.
	port int
	proc *proc

	// Results.
	wasmHeaders string // the br answer's headers for the wasm, for the report
	notes
	runs      map[string][]wrkResult
	rates     map[rateKey]rateResult // fixed-rate runs (-rates)
	rssKB     int64
	rssDetail string
	cold      []time.Duration // to the first byte
	coldLast  []time.Duration // to the last byte
	coldErrs  []string
}

// notes are deviations from what brisk promises a browser, and run
// errors, each recorded once: the same deviation seen in several rounds is
// one fact, and the notes column must stay readable.
type notes []string

func (ns *notes) note(format string, args ...any) {
	if n := fmt.Sprintf(format, args...); !slices.Contains(*ns, n) {
		*ns = append(*ns, n)
	}
}

// findPeers returns the requested servers that can run here, and for each
// missing one why it was skipped.
func findPeers(ctx context.Context, names []string, brisk string, briskArgs []string, s *site) (found []*peer, skipped []string) {
	for _, name := range names {
		var p *peer
		var why string
		switch name {
		case "brisk":
			p = briskPeer(ctx, "brisk", brisk, ".", briskArgs, s)
		case "nginx":
			p, why = nginxPeer(ctx, s, "auto", true)
		case "nginx-1w":
			p, why = nginxPeer(ctx, s, "1", true)
		case "h2o":
			p, why = h2oPeer(ctx, s)
		case "caddy":
			p, why = caddyPeer(ctx, s)
		}
		if p == nil {
			skipped = append(skipped, name+": "+why)
			continue
		}
		p.runs = map[string][]wrkResult{}
		found = append(found, p)
	}
	return found, skipped
}

// briskPeer runs the brisk binary bin, built from the checkout at src,
// with extra serve flags.
func briskPeer(ctx context.Context, name, bin, src string, extra []string, s *site) *peer {
	v, _ := exec.CommandContext(ctx, bin, "version").Output()
	version := strings.TrimPrefix(strings.TrimSpace(string(v)), "brisk ")
	if commit := gitCommit(ctx, src); commit != "" {
		version += " (commit " + commit + ")"
	}
	config := "`brisk serve --addr 127.0.0.1:P --watch=false --log-level warn SITE`, with the site's sidecars as the Site line says"
	if len(extra) > 0 {
		config += "; with " + strings.Join(extra, " ")
	}
	return &peer{
		name: name, bin: bin, version: version, config: config,
		prepare: func(dir string, port int) ([]string, []string, error) {
			args := []string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port), "--watch=false", "--log-level", "warn"}
			return append(append(args, extra...), s.root), nil, nil
		},
	}
}

// gitCommit names the source brisk was built from, the checkout at dir;
// "+dirty" marks changes to tracked files, since a table from a modified
// tree is not reproducible from the commit alone. diff-index is read-only
// (unlike status, it does not refresh the index), as a benchmark must not
// touch the repository.
func gitCommit(ctx context.Context, dir string) string {
	git := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		return cmd
	}
	out, err := git("rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	if git("diff-index", "--quiet", "HEAD", "--").Run() != nil {
		commit += "+dirty"
	}
	return commit
}

// nginxPeer runs nginx with workers worker processes ("auto": one per
// core); any other count than auto is named nginx-<workers>w. Without
// precompressed it is nginx-min, nginx at its leanest for plain files:
// no brotli_static or gzip_static, which look for a sidecar on every
// request.
func nginxPeer(ctx context.Context, s *site, workers string, precompressed bool) (*peer, string) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, "not on PATH (Debian: apt-get install nginx libnginx-mod-http-brotli-static, or -install)"
	}
	v, _ := exec.CommandContext(ctx, bin, "-v").CombinedOutput() // nginx prints its version on stderr
	name, module, config := "nginx", "", "master + `worker_processes "+workers+"`, sendfile, tcp_nopush, access_log off"
	if precompressed {
		if module = brotliStaticModule(ctx, bin); module == "" {
			return nil, "the brotli_static module is missing (Debian: apt-get install libnginx-mod-http-brotli-static), and without it nginx cannot send .br sidecars"
		}
		config += ", brotli_static/gzip_static on, gzip_vary"
	} else {
		name += "-min"
	}
	if workers != "auto" {
		name += "-" + workers + "w"
	}
	return &peer{
		name: name, bin: bin, version: strings.TrimSpace(strings.TrimPrefix(string(v), "nginx version: nginx/")),
		config: config,
		prepare: func(dir string, port int) ([]string, []string, error) {
			conf := filepath.Join(dir, "nginx.conf")
			errLog := filepath.Join(dir, "error.log")
			// -e moves the error log nginx opens before reading the
			// configuration, which is under /var/log and unwritable to a
			// non-root user.
			args := []string{"-p", dir + "/", "-c", conf, "-e", errLog, "-g", "daemon off;"}
			return args, nil, os.WriteFile(conf, []byte(nginxConf(dir, errLog, module, s.root, port, workers)), 0o644)
		},
	}, ""
}

// brotliStaticModule finds ngx_http_brotli_static_module.so: where Debian's
// package put it, or else in nginx's compiled-in modules path.
func brotliStaticModule(ctx context.Context, nginx string) string {
	const so = "ngx_http_brotli_static_module.so"
	if out, err := exec.CommandContext(ctx, "dpkg", "-L", "libnginx-mod-http-brotli-static").Output(); err == nil {
		for line := range strings.Lines(string(out)) {
			if path := strings.TrimSpace(line); strings.HasSuffix(path, "/"+so) {
				if _, err := os.Stat(path); err == nil {
					return path
				}
			}
		}
	}
	info, _ := exec.CommandContext(ctx, nginx, "-V").CombinedOutput()
	dir := "/usr/lib/nginx/modules"
	if _, after, ok := strings.Cut(string(info), "--modules-path="); ok {
		dir = strings.Fields(after)[0]
	}
	if _, err := os.Stat(filepath.Join(dir, so)); err == nil {
		return filepath.Join(dir, so)
	}
	return ""
}

// nginxConf is nginx as one would tune it for static files, with 1024
// connections per worker (wrk opens 64): nginx touches every connection
// slot at start, and 4096 of them cost it about 4 ms of cold start here.
// Every path it may write (pid, logs, temp directories) is inside dir, so
// it runs the same as root or not and leaves nothing behind. module is
// brotli_static's, or empty for nginx without precompressed sidecars.
func nginxConf(dir, errLog, module, root string, port int, workers string) string {
	load, static := "", ""
	if module != "" {
		load = "load_module " + module + ";\n"
		static = `
    brotli_static on;
    gzip_static on;
    gzip_vary on;
    gzip_proxied any;`
	}
	return fmt.Sprintf(`%[3]sworker_processes %[6]s;
pid %[1]s/nginx.pid;
error_log %[2]s warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;%[7]s
    types {
        text/html html;
        text/javascript js;
        application/wasm wasm;
    }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:%[5]d;
        root %[4]s;
    }
}
`, dir, errLog, load, root, port, workers, static)
}

func h2oPeer(ctx context.Context, s *site) (*peer, string) {
	bin, err := exec.LookPath("h2o")
	if err != nil {
		return nil, "not on PATH (Debian: apt-get install h2o, or -install)"
	}
	v, _ := exec.CommandContext(ctx, bin, "--version").Output()
	version, _, _ := strings.Cut(strings.TrimSpace(string(v)), "\n")
	return &peer{
		name: "h2o", bin: bin, version: strings.TrimPrefix(version, "h2o version "),
		config: fmt.Sprintf("`num-threads: %d`, `compress: OFF`, `file.send-compressed: ON`, wasm type added, no access log", runtime.NumCPU()),
		prepare: func(dir string, port int) ([]string, []string, error) {
			conf := filepath.Join(dir, "h2o.conf")
			return []string{"-c", conf}, nil, os.WriteFile(conf, []byte(h2oConf(s.root, port)), 0o644)
		},
	}, ""
}

// h2oConf has no pid-file or error-log: started as root, h2o switches to
// nobody before opening them, which could not write into our temporary
// directory. Its errors go to stderr, which we keep in a log file.
func h2oConf(root string, port int) string {
	return fmt.Sprintf(`listen:
  host: 127.0.0.1
  port: %d
num-threads: %d
compress: OFF
file.send-compressed: ON
file.mime.addtypes:
  application/wasm: .wasm
hosts:
  default:
    paths:
      /:
        file.dir: %s
`, port, runtime.NumCPU(), root)
}

func caddyPeer(ctx context.Context, s *site) (*peer, string) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		return nil, "not on PATH (Debian: apt-get install caddy, or -install)"
	}
	v, _ := exec.CommandContext(ctx, bin, "version").Output()
	version, _, _ := strings.Cut(strings.TrimSpace(string(v)), "\n")
	return &peer{
		name: "caddy", bin: bin, version: version,
		config: "`file_server { precompressed zstd br gzip }`, `admin off`, `auto_https off`, log level ERROR",
		prepare: func(dir string, port int) ([]string, []string, error) {
			conf := filepath.Join(dir, "Caddyfile")
			// Caddy autosaves its config under $XDG_CONFIG_HOME and keeps
			// state under $XDG_DATA_HOME: point both into dir so that a
			// benchmark never writes into the user's home.
			env := []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "XDG_DATA_HOME=" + filepath.Join(dir, "data")}
			return []string{"run", "--config", conf, "--adapter", "caddyfile"}, env,
				os.WriteFile(conf, []byte(caddyfile(s.root, port)), 0o644)
		},
	}, ""
}

func caddyfile(root string, port int) string {
	return fmt.Sprintf(`{
	admin off
	auto_https off
	log {
		level ERROR
	}
}

http://127.0.0.1:%d {
	root * %s
	file_server {
		precompressed zstd br gzip
	}
}
`, port, root)
}

// procs tracks every server process the command started, so that they can
// all be stopped by PID at the end, whatever path the program takes there.
type procs struct {
	mu   sync.Mutex
	live map[int]*proc
}

// proc is one started server.
type proc struct {
	pid     int
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logFile string
}

var started = &procs{live: map[int]*proc{}}

// start execs p with the configuration written for port, in its own
// process group: a Ctrl-C in the terminal then reaches only us, and we stop
// the servers ourselves, in order; and nginx's workers can be found by
// their group.
func (p *peer) start(dir string, port int) (*proc, time.Time, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, time.Time{}, err
	}
	args, env, err := p.prepare(dir, port)
	if err != nil {
		return nil, time.Time{}, err
	}
	logFile := filepath.Join(dir, "output.log")
	out, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer out.Close()
	cmd := exec.Command(p.bin, args...)
	cmd.Dir = dir
	cmd.Env = append(withoutBriskEnv(os.Environ()), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, t0, err
	}
	pr := &proc{pid: cmd.Process.Pid, cmd: cmd, exited: make(chan struct{}), logFile: logFile}
	started.mu.Lock()
	started.live[pr.pid] = pr
	started.mu.Unlock()
	go func() {
		pr.waitErr = cmd.Wait()
		close(pr.exited)
	}()
	return pr, t0, nil
}

// stop ends the server: SIGTERM to its PID, SIGKILL after a grace period,
// then SIGKILL to any process left in its group (a worker whose master
// died). It returns once the main process is reaped.
func (pr *proc) stop() {
	select {
	case <-pr.exited:
	default:
		syscall.Kill(pr.pid, syscall.SIGTERM)
		select {
		case <-pr.exited:
		case <-time.After(3 * time.Second):
			syscall.Kill(pr.pid, syscall.SIGKILL)
			<-pr.exited
		}
	}
	for _, pid := range groupMembers(pr.pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	started.mu.Lock()
	delete(started.live, pr.pid)
	started.mu.Unlock()
}

// stopAll stops every server still running; deferred in main so that an
// error, the timeout or Ctrl-C leaves no server behind.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	var all []*proc
	for _, pr := range ps.live {
		all = append(all, pr)
	}
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, pr := range all {
		wg.Go(pr.stop)
	}
	wg.Wait()
}

// waitListening connects to port until it accepts, the process exits or
// ctx ends. It polls every pollEvery, sleeping in nanosleep so that the
// wait neither quantizes cold starts to the Go scheduler's millisecond
// timers nor spins a core the server needs.
func waitListening(ctx context.Context, pr *proc, port int, pollEvery time.Duration) (net.Conn, error) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	for {
		c, err := net.DialTCP("tcp", nil, addr)
		if err == nil {
			return c, nil
		}
		select {
		case <-pr.exited:
			return nil, fmt.Errorf("exited before listening (%v): %s", pr.waitErr, logTail(pr.logFile))
		case <-ctx.Done():
			return nil, fmt.Errorf("not listening on %d: %w", port, context.Cause(ctx))
		default:
		}
		ts := syscall.NsecToTimespec(pollEvery.Nanoseconds())
		for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
		}
	}
}

// freePort has the kernel pick an unused loopback port. It is free when we
// close it and almost surely still when the server binds it; if not, the
// server fails to start and says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// logTail is the end of a server's output, to say why it failed.
func logTail(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return err.Error()
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	if s == "" {
		return "(no output)"
	}
	return strings.ReplaceAll(s, "\n", " | ")
}

// procStat is what we read of /proc/PID/stat: the parent and the group.
type procStat struct{ pid, ppid, pgrp int }

func allProcs() []procStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name is in parentheses and may contain anything,
		// so the fields are counted from the last ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		out = append(out, procStat{pid, ppid, pgrp})
	}
	return out
}

// groupMembers lists the live processes of the group led by pgid. Killing
// them by PID, rather than signalling -pgid, cannot hit a later group that
// reused the number.
func groupMembers(pgid int) []int {
	var pids []int
	for _, s := range allProcs() {
		if s.pgrp == pgid {
			pids = append(pids, s.pid)
		}
	}
	return pids
}

// treeRSS sums VmRSS over pid and all its descendants (nginx's workers,
// h2o's helper), since that is the memory the server costs, and says what
// it summed.
func treeRSS(pid int) (int64, string, error) {
	children := map[int][]int{}
	for _, s := range allProcs() {
		children[s.ppid] = append(children[s.ppid], s.pid)
	}
	var total int64
	var parts []string
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p]...)
		kb, name, err := vmRSS(p)
		if err != nil {
			if p == pid {
				return 0, "", err
			}
			continue // a child that just exited
		}
		total += kb
		parts = append(parts, fmt.Sprintf("%s %.1f", name, float64(kb)/1024))
	}
	return total, strings.Join(parts, " + "), nil
}

// vmRSS reads a process's resident set and name from /proc/PID/status.
func vmRSS(pid int) (kb int64, name string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, "", err
	}
	found := false
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "Name":
			name = strings.TrimSpace(v)
		case "VmRSS":
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, err = strconv.ParseInt(f[0], 10, 64)
				found = err == nil
			}
		}
	}
	if !found {
		return 0, name, errors.New("no VmRSS (a zombie?)")
	}
	return kb, name, nil
}
