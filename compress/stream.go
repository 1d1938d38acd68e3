package compress

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// StreamCoding compresses a body while it is being produced, such as a page
// a server renders and sends in pieces: unlike Coding, which encodes whole
// files once at the best level, it runs at fast levels with small windows,
// and its encoders can flush, so that every piece written so far can be
// decoded before the next one exists. Encoders are pooled, so that a
// stream seldom pays for building one.
//
// One encoder holds at most about 2.4 MiB (br), 2.1 MiB (zstd) or 1.2 MiB
// (gzip) once it has seen a whole window; TestStreamMemory checks it.
type StreamCoding struct {
	Name            string    // the content-coding token
	memoryPerStream int       // the bound above
	pool            sync.Pool // of flushWriter
}

// flushWriter is a stream encoder of brotli, zstd or gzip.
type flushWriter interface {
	io.WriteCloser
	Flush() error
	Reset(io.Writer)
}

// Stream encoder settings: the level a server can afford for every
// response, and a window larger than most pages, so that memory per
// stream stays near a megabyte or two.
const (
	streamBrotliQuality = 4
	streamBrotliLGWin   = 18 // 256 KiB
	streamGzipLevel     = 5
	streamZstdWindow    = 256 << 10
)

// NewStreamCodings parses a comma-separated list such as "zstd,br,gzip"
// into stream codings, in the order given. Unknown or repeated names are
// errors.
func NewStreamCodings(list string) ([]*StreamCoding, error) {
	return parseList(list, newStreamCoding)
}

func newStreamCoding(name string) (*StreamCoding, error) {
	c := &StreamCoding{Name: name}
	switch name {
	case "br":
		c.memoryPerStream = 2400 << 10
		c.pool.New = func() any {
			return brotli.NewWriterOptions(io.Discard, brotli.WriterOptions{Quality: streamBrotliQuality, LGWin: streamBrotliLGWin})
		}
	case "zstd":
		c.memoryPerStream = 2100 << 10
		c.pool.New = func() any {
			// One goroutine per encoder (the stream's own): the default
			// runs a block encoder per core, each with its own buffers.
			w, err := zstd.NewWriter(io.Discard,
				zstd.WithEncoderLevel(zstd.SpeedDefault),
				zstd.WithEncoderConcurrency(1),
				zstd.WithWindowSize(streamZstdWindow),
				zstd.WithLowerEncoderMem(true))
			if err != nil {
				panic(err) // constant options
			}
			return w
		}
	case "gzip":
		c.memoryPerStream = 1200 << 10
		c.pool.New = func() any {
			w, err := gzip.NewWriterLevel(io.Discard, streamGzipLevel)
			if err != nil {
				panic(err) // constant level
			}
			return w
		}
	default:
		return nil, fmt.Errorf("unknown encoding %q (want br, zstd or gzip)", name)
	}
	return c, nil
}

// StreamEncoder writes one encoded stream to its destination. It is not
// safe for concurrent use; after Close it must not be used again.
type StreamEncoder struct {
	coding *StreamCoding
	w      flushWriter
}

// NewEncoder starts a stream that writes its encoding to dst.
func (c *StreamCoding) NewEncoder(dst io.Writer) *StreamEncoder {
	w := c.pool.Get().(flushWriter)
	w.Reset(dst)
	return &StreamEncoder{coding: c, w: w}
}

// errClosed is the error of a write to a closed encoder.
var errClosed = errors.New("stream encoder closed")

// Write encodes p; the output may stay buffered until Flush or Close.
func (e *StreamEncoder) Write(p []byte) (int, error) {
	if e.w == nil {
		return 0, errClosed
	}
	return e.w.Write(p)
}

// Flush writes out everything written so far, so that a decoder can
// return all of it without waiting for more. It costs a few bytes of
// output (a block boundary), and keeps the compression context.
func (e *StreamEncoder) Flush() error {
	if e.w == nil {
		return errClosed
	}
	return e.w.Flush()
}

// Close ends the stream, writing its trailer, and returns the encoder to
// the pool, whether or not writing the trailer failed.
func (e *StreamEncoder) Close() error {
	if e.w == nil {
		return errClosed
	}
	err := e.w.Close()
	e.Abandon()
	return err
}

// Abandon returns the encoder to the pool without finishing the stream,
// for a body whose destination has gone. The encoder is unusable after.
func (e *StreamEncoder) Abandon() {
	if e.w == nil {
		return
	}
	// Drop the destination: a pooled encoder must not keep a response
	// writer, or its connection, alive.
	e.w.Reset(io.Discard)
	e.coding.pool.Put(e.w)
	e.w = nil
}
