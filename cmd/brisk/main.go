// Command brisk serves a directory of WebAssembly app assets, precompressed
// with brotli, zstd and gzip, to whatever each client accepts.
//
//	brisk serve [flags] [ROOT]
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `brisk serves a WebAssembly app's files precompressed with brotli, zstd and gzip.

Usage:
  brisk serve [flags] [ROOT]   serve ROOT (default: the embedded demo app)
  brisk                        the same as 'brisk serve'
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
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "brisk", version())
		return exitOK
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "brisk: unknown command %q (see brisk --help)\n", args[0])
		return exitUsage
	}
}
