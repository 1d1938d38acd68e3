package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/brisk-server/brisk/compress"
	"github.com/brisk-server/brisk/server"
	"github.com/brisk-server/brisk/site"
)

const serveUsage = `Usage: brisk serve [flags] [ROOT] [-- APP ARGS...]

Serves the files under ROOT, each in the smallest encoding the client
accepts. Without ROOT: $LEPTOS_SITE_ROOT if set; target/site with
--upstream or --exec; otherwise the embedded demo app. With --exec (or a
command after --), brisk starts the application server itself, gives it
LEPTOS_SITE_ADDR, and proxies every request that is not a file to it.

Every flag can also be set with the environment variable shown; a flag on
the command line wins.

Flags:
`

// serveOptions is the serve command line, checked.
type serveOptions struct {
	addr                 string
	watch, dev, spa, coi bool
	idle, shutdown       time.Duration
	upstream             *url.URL
	execArgv             []string
	fallback, basePath   string
	cacheRules           []server.CacheRule
	headerRules          []server.HeaderRule
	notFound             string
	metricsAddr          string
	accessLog, trustXFF  bool
	root                 string // "" = the embedded demo
	log                  *slog.Logger
	codings              []*compress.Coding
	memoryBudget         int64
	transport            *transport
}

func parseServe(args []string, stdout, stderr io.Writer) (*serveOptions, int) {
	var o serveOptions
	if i := slices.Index(args, "--"); i >= 0 {
		args, o.execArgv = args[:i], args[i+1:]
	}
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	fset.StringVar(&o.addr, "addr", ":8080", "`address` to listen on (with --dev: 127.0.0.1:8080)")
	common := addCommonFlags(fset)
	fset.BoolVar(&o.watch, "watch", true, "follow changes under ROOT and serve rebuilt files at once")
	fset.BoolVar(&o.dev, "dev", false, "local development: fast encoder levels, no caching, live reload, listen on localhost")
	fset.DurationVar(&o.idle, "idle-timeout", 0, "exit 0 after this long without requests (health checks aside); 0 = never")
	fset.DurationVar(&o.shutdown, "shutdown-timeout", server.DefaultShutdownTimeout, "how long requests in flight may take to finish when stopping")
	upstream := fset.String("upstream", "", "`URL` of an application server (Leptos SSR) that gets every request that is not a file")
	execCmd := fset.String("exec", "", "`command` of an application server to start and proxy to (split on spaces; or give it after --)")
	fset.BoolVar(&o.spa, "spa", false, "single-page app: serve index.html for unknown paths without an extension that accept HTML")
	fset.StringVar(&o.fallback, "fallback", "", "`file` served for unknown paths, as --spa does with index.html")
	fset.StringVar(&o.basePath, "base-path", "/", "URL `prefix` the site is served under (Trunk --public-url)")
	fset.Var(repeatable[server.CacheRule]{&o.cacheRules, server.ParseCacheRule}, "cache-control", "`GLOB=VALUE` Cache-Control rule, repeatable, first match wins")
	fset.BoolVar(&o.coi, "cross-origin-isolation", false, "send COOP/COEP headers so pages may use SharedArrayBuffer (wasm threads)")
	fset.Var(repeatable[server.HeaderRule]{&o.headerRules, server.ParseHeaderRule}, "header", "`GLOB=Name: value` response header for matching files (CSP, HSTS, CORS...), repeatable; in the environment one rule per line")
	fset.StringVar(&o.notFound, "not-found", "404.html", "`file` under ROOT served with status 404 for paths that are not files, if it exists")
	fset.StringVar(&o.metricsAddr, "metrics-addr", "", "`address` of a separate listener for Prometheus metrics at /metrics; \"\" = off")
	fset.BoolVar(&o.accessLog, "access-log", false, "log one line per request (method, path, status, coding, bytes, duration, client)")
	fset.BoolVar(&o.trustXFF, "trust-proxy-headers", false, "take the client address the access log shows from Fly-Client-IP or X-Forwarded-For (only behind a proxy that sets them)")
	transportFlags := addTransportFlags(fset)

	positional, err := parseFlags(fset, args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, serveUsage)
		printDefaults(stdout, fset)
		return nil, exitOK
	}
	fail := func(err error) (*serveOptions, int) { return nil, usageError(stderr, "serve", err) }
	switch {
	case err != nil:
		return fail(err)
	case o.idle < 0 || o.shutdown <= 0:
		return fail(errors.New("--idle-timeout must be ≥ 0 and --shutdown-timeout > 0"))
	case len(positional) > 1:
		return fail(fmt.Errorf("want at most one ROOT, got %d arguments", len(positional)))
	case *execCmd != "" && len(o.execArgv) > 0:
		return fail(errors.New("give the application server either with --exec or after --, not both"))
	case *execCmd != "" || len(o.execArgv) > 0:
		if *upstream != "" {
			return fail(errors.New("--exec and --upstream exclude each other: with --exec brisk proxies to the process it starts"))
		}
		if len(o.execArgv) == 0 {
			o.execArgv = strings.Fields(*execCmd)
		}
	}
	if *upstream != "" {
		u, err := parseHTTPURL("--upstream", *upstream)
		if err != nil {
			return fail(err)
		}
		o.upstream = u
	}
	if o.spa && o.fallback == "" {
		o.fallback = "index.html"
	}
	if o.fallback != "" && (o.upstream != nil || o.execArgv != nil) {
		return fail(errors.New("--spa/--fallback and an upstream exclude each other: the upstream answers unknown paths"))
	}
	if strings.ContainsAny(o.basePath, "?#") || !strings.HasPrefix(o.basePath, "/") {
		return fail(fmt.Errorf("--base-path %q: want a path such as /app/", o.basePath))
	}
	if _, _, err := net.SplitHostPort(o.metricsAddr); o.metricsAddr != "" && err != nil {
		return fail(fmt.Errorf("--metrics-addr %q: want HOST:PORT, such as :9091", o.metricsAddr))
	}
	if o.notFound != "" && !server.ValidFileName(o.notFound) {
		return fail(fmt.Errorf("--not-found %q: want the path of a file under ROOT, such as 404.html", o.notFound))
	}

	level := compress.Best
	if o.dev {
		// A rebuilt 4 MB wasm must be served compressed within a fraction
		// of a second, and the browser must never keep an old build.
		level = compress.Fast
		if !flagSet(fset, "addr") {
			o.addr = "127.0.0.1:8080"
		}
	}
	if o.log, o.codings, err = common.resolve(stderr, level); err != nil {
		return fail(err)
	}
	o.memoryBudget = int64(common.memoryBudget)
	if o.transport, err = transportFlags.resolve(o.log); err != nil {
		return fail(err)
	}

	// Site discovery: an explicit ROOT, then Leptos' own variable, then
	// cargo-leptos' default for an SSR app, then the demo.
	switch {
	case len(positional) == 1:
		o.root = positional[0]
	case os.Getenv("LEPTOS_SITE_ROOT") != "":
		o.root = os.Getenv("LEPTOS_SITE_ROOT")
	case o.upstream != nil || o.execArgv != nil:
		o.root = "target/site"
	}
	if o.root != "" {
		if err := checkDir(o.root); err != nil {
			return fail(err)
		}
	}
	return &o, exitOK
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, code := parseServe(args, stdout, stderr)
	if o == nil {
		return code
	}
	log := o.log
	// Deltas against the versions a rebuild replaces; not with --dev,
	// whose no-store responses browsers keep no dictionaries of.
	cfg := compress.Config{Codings: o.codings, Logger: log, MemoryBudget: o.memoryBudget, Deltas: !o.dev}
	cache := server.CachePolicy{Rules: o.cacheRules}
	if o.dev {
		cfg.Transform = server.InjectLiveReload
		cache = server.CachePolicy{Default: "no-store", NoImmutable: true}
	}
	cache.Hashes = leptosHashes(o.execArgv, log)
	cfg.Rewritten = cache.RewriteWarning(log)
	rootName := o.root
	if rootName == "" {
		rootName = "embedded demo"
	} else if pkg := os.Getenv("LEPTOS_SITE_PKG_DIR"); pkg != "" {
		if info, err := os.Stat(filepath.Join(o.root, pkg)); err != nil || !info.IsDir() {
			log.Warn("LEPTOS_SITE_PKG_DIR is not a directory under the site root", "root", o.root, "pkg_dir", pkg)
		}
	}

	started := time.Now()
	// Listen first: from here on a client that connects (Fly Proxy waking
	// the machine) is queued by the kernel instead of refused and left to
	// retry, and its request is waiting when the server starts reading.
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		log.Error("cannot listen", "addr", o.addr, "err", err)
		return exitFailure
	}
	defer ln.Close()
	var metricsLn net.Listener
	if o.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", o.metricsAddr); err != nil {
			log.Error("cannot listen for metrics", "addr", o.metricsAddr, "err", err)
			return exitFailure
		}
		defer metricsLn.Close()
	}
	var store *compress.Store
	if o.root == "" {
		store, err = compress.Open(site.FS(), cfg)
	} else {
		store, err = compress.OpenDir(o.root, cfg)
	}
	if err != nil {
		log.Error("cannot read root", "root", rootName, "err", err)
		return exitFailure
	}
	defer store.Close()
	if !o.dev && o.root != "" {
		cache.HintUnhashedWasm(store.Snapshot(), log)
	}

	var app *child
	upstream := o.upstream
	var upstreamReady <-chan struct{}
	if o.execArgv != nil {
		if app, err = startChild(o.execArgv, stdout, stderr, log); err != nil {
			log.Error("cannot start the application server", "err", err)
			return exitFailure
		}
		upstream = &url.URL{Scheme: "http", Host: app.addr}
		upstreamReady = app.ready
	}

	srvCfg := server.Config{
		Source: store, Logger: log, Started: started, Cache: cache,
		IdleTimeout: o.idle, ShutdownTimeout: o.shutdown, LiveReload: o.dev,
		Upstream: upstream, UpstreamReady: upstreamReady,
		Fallback: o.fallback, BasePath: o.basePath, CrossOriginIsolation: o.coi,
		Headers: o.headerRules, NotFound: o.notFound,
		Metrics: metricsLn != nil, AccessLog: o.accessLog, TrustProxyHeaders: o.trustXFF,
	}
	scheme, err := o.transport.apply(&srvCfg, o.codings, ln.Addr(), stdout, log)
	if err != nil {
		log.Error("cannot set up TLS", "err", err)
		return exitFailure
	}
	srv := server.New(srvCfg)
	baseURL := scheme + "://" + displayAddr(ln.Addr())
	log.Info("serving", "root", rootName, "files", store.Snapshot().Len(),
		"url", baseURL, "startup", time.Since(started).Round(time.Microsecond))
	if metricsLn != nil {
		log.Info("metrics", "url", "http://"+displayAddr(metricsLn.Addr())+server.MetricsPath)
		go func() {
			if err := srv.ServeMetrics(metricsLn); err != nil {
				log.Error("metrics listener failed", "err", err)
			}
		}()
	}
	if o.dev {
		fmt.Fprintf(stdout, "brisk --dev: open %s/ (reloads on every rebuild)\n", strings.Replace(baseURL, "127.0.0.1", "localhost", 1))
	}

	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	go store.Precompress(runCtx)
	if o.watch && o.root != "" {
		go func() {
			if err := store.Watch(runCtx); err != nil {
				log.Warn("not watching for changes", "err", err)
			}
		}()
	}
	if app != nil {
		go func() {
			<-app.done
			cancelRun(errAppExited)
		}()
	}

	reason, err := srv.Run(runCtx, ln)
	exit := exitOK
	switch {
	case reason == "":
		log.Error("server failed", "err", err)
		exit = exitFailure
	case reason == server.StopIdle:
		log.Info("exiting: no requests for the idle timeout", "idle_timeout", o.idle)
	case errors.Is(context.Cause(runCtx), errAppExited):
		attrs := []any{"code", app.code}
		if hint := app.exitHint(); hint != "" {
			attrs = append(attrs, "hint", hint)
		}
		log.Error("exiting: the application server exited", attrs...)
		return app.code
	default:
		log.Info("exiting: stop signal received")
	}
	if err != nil && reason != "" {
		log.Warn("shutdown incomplete", "err", err)
	}
	if app != nil {
		// Requests in flight are answered; now the application server
		// stops, gracefully. On a signal, brisk exits with its code.
		code := app.stop(signalOf(ctx), o.shutdown, log)
		log.Info("application server stopped", "code", code)
		if reason == server.StopCanceled {
			return code
		}
	}
	return exit
}

// errAppExited is why serving stops when the child exits by itself.
var errAppExited = errors.New("application server exited")

// leptosHashes reads cargo-leptos' hash file: $LEPTOS_HASH_FILE_NAME, or
// hash.txt beside the application server brisk starts (where Leptos
// itself looks for it).
func leptosHashes(execArgv []string, log *slog.Logger) []string {
	name := os.Getenv("LEPTOS_HASH_FILE_NAME")
	if name == "" {
		if len(execArgv) == 0 {
			return nil
		}
		name = "hash.txt"
	}
	if !filepath.IsAbs(name) && len(execArgv) > 0 {
		if bin, err := exec.LookPath(execArgv[0]); err == nil {
			name = filepath.Join(filepath.Dir(bin), name)
		}
	}
	data, err := os.ReadFile(name)
	if err != nil {
		log.Debug("no cargo-leptos hash file", "path", name, "err", err)
		return nil
	}
	return server.ParseHashFile(data)
}

// checkDir reports a ROOT that cannot be served, in one line.
func checkDir(dir string) error {
	root, err := openDir(dir)
	if err != nil {
		return err
	}
	return root.Close()
}

// flagSet reports whether a flag was given on the command line or in the
// environment (parseFlags sets those through the FlagSet too), rather than
// left at its default.
func flagSet(fset *flag.FlagSet, name string) bool {
	set := false
	fset.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// openDir opens a site directory through os.Root, which refuses any path,
// symlinks included, that leads outside it, and checks it can be listed.
func openDir(dir string) (*os.Root, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("root %s: not a directory", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	if _, err := fs.ReadDir(root.FS(), "."); err != nil {
		root.Close()
		return nil, fmt.Errorf("root: %w", err)
	}
	return root, nil
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("localhost", fmt.Sprint(tcp.Port))
}
