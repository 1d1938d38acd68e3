// Package compress keeps the precompressed picture of a site: it scans a root,
// hashes each file, encodes the compressible ones with brotli, zstd and gzip,
// and publishes immutable snapshots that a server can read without locks.
// It knows nothing of HTTP.
package compress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	brrr "github.com/molecule-man/go-brrr"
)

// MaxZstdWindow is the largest zstd window brisk ever uses or accepts.
// RFC 9659 §3 forbids HTTP zstd that needs more than 8 MB of window, so that
// browsers can bound their decoder memory.
const MaxZstdWindow = 8 << 20

// Level chooses between the densest output (for production, where a variant
// is encoded once and served many times) and fast output (for a local
// rebuild loop, where waiting seconds for brotli 11 defeats the purpose).
type Level int

const (
	Best Level = iota
	Fast
)

// Coding is one content coding brisk can produce. Its Name doubles as the
// token clients use to ask for it; Suffix names its sidecar files.
type Coding struct {
	Name   string
	Suffix string
	// cost ranks codings by encode time so that the cheap ones are
	// scheduled first and clients get some compression within moments.
	cost   int
	encode func(ctx context.Context, src []byte) ([]byte, error)
	// reader decodes a stream; a sidecar is checked through it without
	// holding its decoded bytes.
	reader func(enc io.Reader) (io.ReadCloser, error)
}

// Encode returns src encoded with c. Cancelling ctx stops a long encode
// early (brotli 11 of a big wasm takes seconds), with ctx's error.
func (c *Coding) Encode(ctx context.Context, src []byte) ([]byte, error) {
	out, err := c.encode(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("%s encode: %w", c.Name, err)
	}
	return out, nil
}

// Decode reverses Encode. It refuses output longer than limit bytes so that a
// hostile or corrupt input cannot exhaust memory.
func (c *Coding) Decode(enc []byte, limit int64) ([]byte, error) {
	r, err := c.reader(bytes.NewReader(enc))
	if err == nil {
		var out []byte
		out, err = readAllLimit(r, limit)
		r.Close()
		if err == nil {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%s decode: %w", c.Name, err)
}

// resettableWriter is a pooled stream encoder.
type resettableWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// chunkSize is how much is encoded between checks for cancellation: about
// a tenth of a second of brotli 11.
const chunkSize = 64 << 10

// encodeInChunks feeds src to w a chunk at a time, so that a cancelled
// encode (its file was rebuilt meanwhile) stops within a chunk.
func encodeInChunks(ctx context.Context, w resettableWriter, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(src) / 3)
	w.Reset(&buf)
	if err := writeInChunks(ctx, w, src); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeInChunks writes src to w a chunk at a time, checking ctx between
// chunks, and closes w once all is written.
func writeInChunks(ctx context.Context, w io.WriteCloser, src []byte) error {
	for rest := src; len(rest) > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(rest), chunkSize)
		if _, err := w.Write(rest[:n]); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return w.Close()
}

// ErrTooLarge reports a decoded stream longer than the caller allowed.
var ErrTooLarge = errors.New("decoded data exceeds limit")

// readAllLimit reads r to the end, failing once more than limit bytes arrive.
func readAllLimit(r io.Reader, limit int64) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > limit {
		return nil, ErrTooLarge
	}
	return out, nil
}

// NewCodings parses a comma-separated list such as "br,zstd,gzip" into
// codings at the given level. Order is kept; duplicates and unknown names
// are errors, so that a typo in a flag is reported instead of ignored.
func NewCodings(list string, level Level) ([]*Coding, error) {
	return parseList(list, func(name string) (*Coding, error) {
		switch name {
		case "br":
			return brotliCoding(level), nil
		case "zstd":
			return zstdCoding(level), nil
		case "gzip":
			return gzipCoding(level), nil
		}
		return nil, fmt.Errorf("unknown encoding %q (want br, zstd or gzip)", name)
	})
}

// parseList makes one T of each name in a comma-separated list, in order;
// a repeated name is an error.
func parseList[T any](list string, each func(name string) (T, error)) ([]T, error) {
	var out []T
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if seen[name] {
			return nil, fmt.Errorf("encoding %q listed twice", name)
		}
		seen[name] = true
		c, err := each(name)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func brotliCoding(level Level) *Coding {
	// Quality 11 with the smallest window that holds the file, at most
	// 16 MiB: byte for byte what `brotli -q 11 FILE` produces, and what
	// every browser decodes. The encoder's tables grow with its window
	// (180 MB at 16 MiB, whatever the input), so a window fitted to the
	// file keeps an encode's memory in proportion to it. For the same
	// reason writers are not pooled: a pool would keep the largest alive.
	quality, maxLGWin := 11, 24
	if level == Fast {
		quality, maxLGWin = 5, 22
	}
	return &Coding{
		Name:   "br",
		Suffix: ".br",
		cost:   3,
		encode: func(ctx context.Context, src []byte) ([]byte, error) {
			opts := brotli.WriterOptions{Quality: quality, LGWin: min(brotliWindowFor(len(src)), maxLGWin)}
			return encodeInChunks(ctx, brotli.NewWriterOptions(nil, opts), src)
		},
		// go-brrr decodes about 1.7 times as fast as andybalholm/brotli
		// (a 1.8 MB wasm: 15 ms against 26 ms), which is what a cold
		// start waits for when it checks a brotli sidecar.
		reader: func(enc io.Reader) (io.ReadCloser, error) { return brrr.NewReader(enc), nil },
	}
}

// brotliWindowFor is the window the brotli CLI takes for a file of n bytes
// when not told: the smallest (from 2^10) whose reach, 2^lgwin - 16 bytes,
// covers the file, at most 2^24.
func brotliWindowFor(n int) int {
	lgwin := 10
	for lgwin < 24 && (1<<lgwin)-16 < n {
		lgwin++
	}
	return lgwin
}

func zstdCoding(level Level) *Coding {
	encLevel := zstd.SpeedBestCompression
	if level == Fast {
		encLevel = zstd.SpeedDefault
	}
	// Encoders are safe for concurrent EncodeAll calls and expensive to
	// build, so one is made on first use and shared.
	encoder := sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil,
			zstd.WithEncoderLevel(encLevel),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(MaxZstdWindow))
	})
	return &Coding{
		Name:   "zstd",
		Suffix: ".zst",
		cost:   2,
		encode: func(ctx context.Context, src []byte) ([]byte, error) {
			enc, err := encoder()
			if err != nil {
				return nil, err
			}
			// EncodeAll cannot stop midway; zstd at its best level takes a
			// fraction of brotli's time, so only a start is refused.
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return enc.EncodeAll(src, make([]byte, 0, len(src)/3)), nil
		},
		reader: func(enc io.Reader) (io.ReadCloser, error) {
			// The decoder enforces the same 8 MB window a browser would.
			d, err := zstd.NewReader(enc,
				zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxWindow(MaxZstdWindow))
			if err != nil {
				return nil, err
			}
			return d.IOReadCloser(), nil
		},
	}
}

func gzipCoding(level Level) *Coding {
	gzLevel := gzip.BestCompression
	if level == Fast {
		gzLevel = 5
	}
	pool := sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzLevel) // level is a valid constant
		return w
	}}
	return &Coding{
		Name:   "gzip",
		Suffix: ".gz",
		cost:   1,
		encode: func(ctx context.Context, src []byte) ([]byte, error) {
			w := pool.Get().(*gzip.Writer)
			defer pool.Put(w)
			return encodeInChunks(ctx, w, src)
		},
		reader: func(enc io.Reader) (io.ReadCloser, error) {
			r, err := gzip.NewReader(enc)
			if err != nil {
				return nil, err
			}
			return r, nil
		},
	}
}
