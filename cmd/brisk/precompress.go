package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/brisk-server/brisk/compress"
	"github.com/brisk-server/brisk/internal/deployed"
)

const precompressUsage = `Usage: brisk precompress [flags] ROOT

Writes ROOT/<file>.br, .zst and .gz beside every compressible file, at the
best levels, using all cores, and records them in ROOT/` + compress.ManifestName + `
so that 'brisk serve' can use them without compressing or even reading them
at startup. Run it when building a container image: a machine that starts
from the image then serves brotli from its first request. Sidecars that are
still valid are kept; running it twice rewrites nothing.

With --previous or --previous-url, each hashed bundle (app-<hash>_bg.wasm,
pkg/app.<hash>.js) also gets deltas against each earlier version of it
(same directory and name, another hash): <file>.<digest>.dcz (zstd) and,
when br is among the encodings, <file>.<digest>.dcb (brotli 11), sent to
returning visitors whose browser has that version (Compression Dictionary
Transport, RFC 9842). A deployed site that cannot be reached is a warning:
the sidecars are written without deltas against it.

Flags:
`

func precompress(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("precompress", flag.ContinueOnError)
	common := addCommonFlags(fset)
	var previousDirs, previousURLs []string
	fset.Var(stringList(&previousDirs), "previous", "`DIR` of an earlier build: make deltas against its versions of the hashed files (repeatable)")
	fset.Var(stringList(&previousURLs), "previous-url", "`URL` of the deployed site: fetch the versions its pages name and make deltas against them (repeatable)")
	positional, err := parseFlags(fset, args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, precompressUsage)
		printDefaults(stdout, fset)
		return exitOK
	}
	if err != nil {
		return usageError(stderr, "precompress", err)
	}
	if len(positional) != 1 {
		return usageError(stderr, "precompress", fmt.Errorf("want one ROOT, got %d arguments", len(positional)))
	}
	log, codings, err := common.resolve(stderr, compress.Best)
	if err != nil {
		return usageError(stderr, "precompress", err)
	}
	dir := positional[0]
	root, err := openDir(dir)
	if err != nil {
		return usageError(stderr, "precompress", err)
	}
	defer root.Close()
	if err := checkWritable(root); err != nil {
		fmt.Fprintf(stderr, "brisk precompress: %s is not writable: %v\n", dir, err)
		return exitFailure
	}

	previous, cleanup, err := previousBuilds(ctx, previousDirs, previousURLs, root.FS(), log)
	defer cleanup()
	if err != nil {
		return usageError(stderr, "precompress", err)
	}

	// dcb (brotli 11 with the dictionary) where brotli 11 is paid anyway.
	brotli := slices.ContainsFunc(codings, func(c *compress.Coding) bool { return c.Name == "br" })
	store, err := compress.Open(root.FS(), compress.Config{Codings: codings, Logger: log, WriteSidecars: root,
		MemoryBudget: int64(common.memoryBudget), Previous: previous, BrotliDeltas: brotli})
	if err != nil {
		log.Error("cannot read root", "root", dir, "err", err)
		return exitFailure
	}
	defer store.Close()
	failed := 0
	for _, f := range store.Precompress(ctx) {
		for _, v := range f.Variants {
			if v.Err != nil {
				failed++
			}
		}
	}
	if ctx.Err() != nil {
		log.Error("interrupted; sidecars written so far are complete, the manifest is not updated")
		return exitFailure
	}
	if failed > 0 {
		log.Error("some variants failed", "count", failed)
		return exitFailure
	}
	return exitOK
}

// previousBuilds opens the earlier builds given with --previous and
// fetches those of --previous-url into a temporary directory, which
// cleanup removes. A directory that cannot be read, or a URL that is not
// one, is a usage error; a site that cannot be fetched is a warning.
func previousBuilds(ctx context.Context, dirs, urls []string, root fs.FS, log *slog.Logger) (previous []fs.FS, cleanup func(), err error) {
	var closers []func() error
	cleanup = func() {
		for _, c := range closers {
			_ = c()
		}
	}
	for _, dir := range dirs {
		r, err := openDir(dir)
		if err != nil {
			return nil, cleanup, fmt.Errorf("--previous %s: %w", dir, err)
		}
		closers = append(closers, r.Close)
		previous = append(previous, r.FS())
	}
	for _, raw := range urls {
		u, err := parseHTTPURL("--previous-url", raw)
		if err != nil {
			return nil, cleanup, err
		}
		var got []string
		tmp, err := os.MkdirTemp("", "brisk-deployed-")
		if err == nil {
			closers = append(closers, func() error { return os.RemoveAll(tmp) })
			got, err = deployed.Fetch(ctx, &http.Client{}, u, root, tmp, log)
		}
		if err != nil {
			log.Warn("cannot read the deployed site; no deltas against it", "url", raw, "err", err)
			continue
		}
		log.Info("fetched the deployed versions", "url", raw, "files", len(got))
		previous = append(previous, os.DirFS(tmp))
	}
	return previous, cleanup, nil
}

// checkWritable creates and removes a hidden file, so that a read-only
// ROOT is reported at once instead of after minutes of brotli.
func checkWritable(root *os.Root) error {
	name := ".brisk-write-check-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	return root.Remove(name)
}
