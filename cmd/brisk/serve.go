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
	addr := fset.String("addr", ":8080", "`address` to listen on")
	common := addCommonFlags(fset)
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
	log, codings, err := common.resolve(stderr)
	if err != nil {
		return usageError(stderr, "serve", err)
	}
	fsys, rootName, err := openRoot(positional)
	if err != nil {
		return usageError(stderr, "serve", err)
	}

	started := time.Now()
	store, err := compress.Open(fsys, compress.Config{Codings: codings, Logger: log})
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
		Source: store, Logger: log, Started: started,
		IdleTimeout: *idleTimeout, ShutdownTimeout: *shutdownTimeout,
	})
	log.Info("serving", "root", rootName, "files", store.Snapshot().Len(),
		"url", "http://"+displayAddr(ln.Addr()), "startup", time.Since(started).Round(time.Microsecond))

	precompressCtx, cancelPrecompress := context.WithCancel(ctx)
	defer cancelPrecompress()
	go store.Precompress(precompressCtx)

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

// openRoot returns the file system to serve and a name for it in logs.
func openRoot(positional []string) (fs.FS, string, error) {
	if len(positional) == 0 {
		return site.FS(), "embedded demo", nil
	}
	root, err := openDir(positional[0])
	if err != nil {
		return nil, "", err
	}
	return root.FS(), positional[0], nil
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
