package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/brisk-server/brisk/compress"
)

// commonFlags are the flags every subcommand that compresses shares.
type commonFlags struct {
	encodings *string
	logFormat *string
	logLevel  slog.Level
}

func addCommonFlags(fset *flag.FlagSet) *commonFlags {
	c := &commonFlags{
		encodings: fset.String("encodings", "br,zstd,gzip", "comma-separated `list` of encodings to precompress"),
		logFormat: fset.String("log-format", "text", "log `format`: text or json"),
	}
	fset.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error")
	return c
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
