package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	"github.com/brisk-server/brisk/compress"
	"github.com/brisk-server/brisk/server"
	"github.com/brisk-server/brisk/site"
)

const serveUsage = `Usage: brisk serve [flags] [ROOT]

Serves the files under ROOT (default: the embedded demo app), each in the
smallest encoding the client accepts. Every flag can also be set with the
environment variable shown; a flag on the command line wins.

Flags:
`

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fset.String("addr", ":8080", "`address` to listen on (with --dev: 127.0.0.1:8080)")
	common := addCommonFlags(fset)
	watch := fset.Bool("watch", true, "follow changes under ROOT and serve rebuilt files at once")
	dev := fset.Bool("dev", false, "local development: fast encoder levels, no caching, live reload, listen on localhost")
	idleTimeout := fset.Duration("idle-timeout", 0, "exit 0 after this long without requests (health checks aside); 0 = never")
	shutdownTimeout := fset.Duration("shutdown-timeout", server.DefaultShutdownTimeout, "how long requests in flight may take to finish when stopping")

	positional, err := parseFlags(fset, args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, serveUsage)
		printDefaults(stdout, fset)
		return exitOK
	}
	if err != nil {
		return usageError(stderr, "serve", err)
	}
	if *idleTimeout < 0 || *shutdownTimeout <= 0 {
		return usageError(stderr, "serve", errors.New("--idle-timeout must be ≥ 0 and --shutdown-timeout > 0"))
	}
	if len(positional) > 1 {
		return usageError(stderr, "serve", fmt.Errorf("want at most one ROOT, got %d arguments", len(positional)))
	}
	level, cacheControl := compress.Best, server.DefaultCacheControl
	if *dev {
		// A rebuilt 4 MB wasm must be served compressed within a fraction
		// of a second, and the browser must never keep an old build.
		level, cacheControl = compress.Fast, "no-store"
		if !flagSet(fset, "addr") {
			*addr = "127.0.0.1:8080"
		}
	}
	log, codings, err := common.resolve(stderr, level)
	if err != nil {
		return usageError(stderr, "serve", err)
	}
	cfg := compress.Config{Codings: codings, Logger: log}
	if *dev {
		cfg.Transform = server.InjectLiveReload
	}
	rootName := "embedded demo"
	if len(positional) == 1 {
		rootName = positional[0]
		if err := checkDir(rootName); err != nil {
			return usageError(stderr, "serve", err)
		}
	}

	started := time.Now()
	var store *compress.Store
	if len(positional) == 0 {
		store, err = compress.Open(site.FS(), cfg)
	} else {
		store, err = compress.OpenDir(rootName, cfg)
	}
	if err != nil {
		log.Error("cannot read root", "root", rootName, "err", err)
		return exitFailure
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("cannot listen", "addr", *addr, "err", err)
		return exitFailure
	}
	srv := server.New(server.Config{
		Source: store, Logger: log, Started: started, CacheControl: cacheControl,
		IdleTimeout: *idleTimeout, ShutdownTimeout: *shutdownTimeout, LiveReload: *dev,
	})
	url := "http://" + displayAddr(ln.Addr())
	log.Info("serving", "root", rootName, "files", store.Snapshot().Len(),
		"url", url, "startup", time.Since(started).Round(time.Microsecond))
	if *dev {
		fmt.Fprintf(stdout, "brisk --dev: open %s/ (reloads on every rebuild)\n", strings.Replace(url, "127.0.0.1", "localhost", 1))
	}

	precompressCtx, cancelPrecompress := context.WithCancel(ctx)
	defer cancelPrecompress()
	go store.Precompress(precompressCtx)
	if *watch && len(positional) == 1 {
		go func() {
			if err := store.Watch(precompressCtx); err != nil {
				log.Warn("not watching for changes", "err", err)
			}
		}()
	}

	reason, err := srv.Run(ctx, ln)
	switch {
	case reason == "":
		log.Error("server failed", "err", err)
		return exitFailure
	case reason == server.StopIdle:
		log.Info("exiting: no requests for the idle timeout", "idle_timeout", *idleTimeout)
	default:
		log.Info("exiting: stop signal received")
	}
	if err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	return exitOK
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
