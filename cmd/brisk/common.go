package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"

	"github.com/brisk-server/brisk/compress"
)

// commonFlags are the flags every subcommand that compresses shares.
type commonFlags struct {
	encodings    *string
	logFormat    *string
	logLevel     slog.Level
	memoryBudget byteSize
}

func addCommonFlags(fset *flag.FlagSet) *commonFlags {
	c := &commonFlags{
		encodings: fset.String("encodings", "br,zstd,gzip", "comma-separated `list` of encodings to precompress, and to encode proxied responses with (--compress-proxied)"),
		logFormat: fset.String("log-format", "text", "log `format`: text or json"),
	}
	fset.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error")
	c.memoryBudget = compress.DefaultMemoryBudget
	fset.Var(&c.memoryBudget, "memory-budget", "`bytes` of files and variants kept in memory, sealed copies for sendfile included (e.g. 64MiB, 1GB); the rest is sent from disk")
	return c
}

// byteSize is a flag value such as "64MiB", "512kB" or "1073741824".
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return errors.New("want a positive size such as 64MiB or 1GB")
	}
	*b = byteSize(n * mult)
	return nil
}

// resolve checks the values and builds the logger and codings.
func (c *commonFlags) resolve(stderr io.Writer, level compress.Level) (*slog.Logger, []*compress.Coding, error) {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	var log *slog.Logger
	switch *c.logFormat {
	case "text":
		log = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		log = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return nil, nil, fmt.Errorf("--log-format %q: want text or json", *c.logFormat)
	}
	codings, err := compress.NewCodings(*c.encodings, level)
	if err != nil {
		return nil, nil, fmt.Errorf("--encodings: %w", err)
	}
	return log, codings, nil
}
