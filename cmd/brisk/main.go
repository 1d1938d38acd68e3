// Command brisk serves a directory of WebAssembly app assets, precompressed
// with brotli, zstd and gzip, to whatever each client accepts.
//
//	brisk serve [flags] [ROOT]
//	brisk precompress [flags] ROOT
//	brisk version
//
// This file only dispatches subcommands; it is the one place that exits.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes: 2 is for a command line that cannot work, so that scripts can
// tell a typo from a server that failed while running.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(stopOnSignal(), os.Args[1:], os.Stdout, os.Stderr))
}

// stopOnSignal returns a context cancelled by the first SIGINT (Fly's
// default kill signal) or SIGTERM, which starts a graceful drain. A second
// signal means the operator will not wait: exit at once.
func stopOnSignal() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		cancel(stopSignal{<-signals})
		sig := <-signals
		fmt.Fprintf(os.Stderr, "brisk: second %v, exiting now\n", sig)
		killChildren()
		os.Exit(exitFailure)
	}()
	return ctx
}

// stopSignal is the cause of a context cancelled by a signal, so that the
// same signal can be forwarded to a child.
type stopSignal struct{ os.Signal }

func (s stopSignal) Error() string { return "received " + s.String() }

const usage = `brisk serves a WebAssembly app's files precompressed with brotli, zstd and gzip.

Usage:
  brisk serve [flags] [ROOT]   serve ROOT (default: the embedded demo app)
  brisk [--flag ...] [ROOT]    the same, when the first argument is a flag
  brisk precompress ROOT       write .br/.zst/.gz sidecars for fast cold starts
  brisk version                print the version
  brisk help                   show this help

Run 'brisk serve --help' for the serve flags.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 { // `go run ./cmd/brisk` serves the demo
		return serve(ctx, nil, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "precompress":
		return precompress(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "brisk", version())
		return exitOK
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		if strings.HasPrefix(args[0], "-") { // `brisk --dev dist`: flags of serve
			return serve(ctx, args, stdout, stderr)
		}
		fmt.Fprintf(stderr, "brisk: unknown command %q (see brisk --help)\n", args[0])
		return exitUsage
	}
}
