package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/brisk-server/brisk/compress"
)

const precompressUsage = `Usage: brisk precompress [flags] ROOT

Writes ROOT/<file>.br, .zst and .gz beside every compressible file, at the
best levels, using all cores, and records them in ROOT/` + compress.ManifestName + `
so that 'brisk serve' can use them without compressing or even reading them
at startup. Run it when building a container image: a machine that starts
from the image then serves brotli from its first request. Sidecars that are
still valid are kept; running it twice rewrites nothing.

Flags:
`

func precompress(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("precompress", flag.ContinueOnError)
	common := addCommonFlags(fset)
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

	store, err := compress.Open(root.FS(), compress.Config{Codings: codings, Logger: log, WriteSidecars: root,
		MemoryBudget: int64(common.memoryBudget)})
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
