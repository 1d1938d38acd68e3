package compress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"

	"github.com/klauspost/compress/zstd"
	"github.com/molecule-man/go-brrr"
)

// The content codings of deltas (RFC 9842), each a frame made with an
// earlier version of the file as the dictionary, after a header that
// names the dictionary by its SHA-256 so that a client can tell it was
// encoded against the one it has. Chrome and Edge decode both since
// version 130.
const (
	// DeltaZstd is Dictionary-Compressed Zstandard (§5): zstd with the
	// dictionary as raw content. Fast to encode; brisk makes it for every
	// delta.
	DeltaZstd = "dcz"
	// DeltaBrotli is Dictionary-Compressed Brotli (§4): brotli with the
	// dictionary as a compound dictionary. At quality 11 it is 15-29 %
	// smaller than dcz on real wasm releases, at brotli 11's cost.
	DeltaBrotli = "dcb"
)

// dczMagic starts every dcz body: a zstd skippable frame (magic
// 0x184D2A5E, 32 bytes long) that holds the dictionary's SHA-256; dcbMagic
// every dcb body, followed by the SHA-256.
var (
	dczMagic = []byte{0x5e, 0x2a, 0x4d, 0x18, 0x20, 0x00, 0x00, 0x00}
	dcbMagic = []byte{0xff, 0x44, 0x43, 0x42}
)

// dczHeaderLen is the magic plus the SHA-256 of the dictionary.
const dczHeaderLen = 8 + sha256.Size

// ErrWindowTooLarge reports a file too large to be a dcz delta of a
// dictionary of the given size within the window clients decode.
var ErrWindowTooLarge = errors.New("file too large for a dcz window")

// DeltaWindowLimit is the largest file that can be sent as dcz against a
// dictionary of dictSize bytes. brisk writes single-segment frames, whose
// window is the file's own size: only then can every match reach the whole
// dictionary (klauspost's encoder never looks further back than its
// window, and a windowed frame of a 10 MB wasm lost two thirds of the
// delta). RFC 9842 §5 lets clients refuse windows above 8 MB or 1.25 times
// the dictionary, whichever is greater, capped at 128 MB; Chromium refuses
// windows above 2^max(23, ceil(log2(dictSize))), which is lower for some
// sizes. The limit is the smaller of the two.
func DeltaWindowLimit(dictSize int64) int64 {
	rfc := min(128<<20, max(8<<20, dictSize+dictSize/4))
	chromium := int64(1) << max(23, bits.Len64(uint64(max(dictSize, 1)-1)))
	return min(rfc, chromium)
}

// EncodeDelta encodes src with coding (DeltaZstd or DeltaBrotli) against
// dict.
func EncodeDelta(ctx context.Context, coding string, dict, src []byte) ([]byte, error) {
	switch coding {
	case DeltaZstd:
		return encodeDcz(ctx, dict, src)
	case DeltaBrotli:
		return encodeDcb(ctx, dict, src)
	}
	return nil, fmt.Errorf("unknown delta coding %q", coding)
}

// DecodeDelta reverses EncodeDelta, checking what a browser checks, and
// refuses output longer than limit bytes.
func DecodeDelta(coding string, enc, dict []byte, limit int64) ([]byte, error) {
	switch coding {
	case DeltaZstd:
		return decodeDcz(enc, dict, limit)
	case DeltaBrotli:
		return decodeDcb(enc, dict, limit)
	}
	return nil, fmt.Errorf("unknown delta coding %q", coding)
}

// encodeDcz encodes src as a dcz body against dict, at zstd's best level.
// It fails with ErrWindowTooLarge when src is over
// DeltaWindowLimit(len(dict)). EncodeAll cannot stop midway, so ctx is
// checked only before the work starts.
func encodeDcz(ctx context.Context, dict, src []byte) ([]byte, error) {
	if int64(len(src)) > DeltaWindowLimit(int64(len(dict))) {
		return nil, ErrWindowTooLarge
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The encoder's own window must cover dictionary and file, or it
	// forgets the start of the dictionary; the frame still declares the
	// file's size as its window (single segment). Dictionary ID 0: a
	// browser loads the dictionary as raw content and rejects any other.
	window := max(zstd.MinWindowSize, 1<<bits.Len(uint(len(dict)+len(src)-1)))
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		zstd.WithEncoderDictRaw(0, dict),
		zstd.WithWindowSize(min(window, zstd.MaxWindowSize)),
		zstd.WithSingleSegment(true),
		zstd.WithZeroFrames(true), // an empty file is a frame too
		zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("dcz encoder: %w", err)
	}
	defer enc.Close()
	sum := sha256.Sum256(dict)
	out := make([]byte, 0, dczHeaderLen+len(src)/4)
	out = append(append(out, dczMagic...), sum[:]...)
	return enc.EncodeAll(src, out), nil
}

// decodeDcz checks what a browser checks (the header names dict, the
// frame uses no dictionary ID, the window is within DeltaWindowLimit).
func decodeDcz(enc, dict []byte, limit int64) ([]byte, error) {
	if len(enc) < dczHeaderLen || !bytes.Equal(enc[:8], dczMagic) {
		return nil, errors.New("dcz: no dcz header")
	}
	if sum := sha256.Sum256(dict); !bytes.Equal(enc[8:dczHeaderLen], sum[:]) {
		return nil, errors.New("dcz: made with another dictionary")
	}
	frame := enc[dczHeaderLen:]
	var h zstd.Header
	if err := h.Decode(frame); err != nil {
		return nil, fmt.Errorf("dcz: %w", err)
	}
	window := h.WindowSize
	if h.SingleSegment {
		window = h.FrameContentSize
	}
	switch {
	case h.DictionaryID != 0:
		return nil, fmt.Errorf("dcz: frame names dictionary %d, want 0", h.DictionaryID)
	case window > uint64(DeltaWindowLimit(int64(len(dict)))):
		return nil, fmt.Errorf("dcz: window of %d bytes is over the limit for a %d-byte dictionary", window, len(dict))
	case h.HasFCS && h.FrameContentSize > uint64(limit):
		return nil, ErrTooLarge
	}
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderDictRaw(0, dict),
		zstd.WithDecoderMaxWindow(max(zstd.MinWindowSize, uint64(DeltaWindowLimit(int64(len(dict)))))),
		// Small frames still take a window of MinWindowSize.
		zstd.WithDecoderMaxMemory(uint64(max(limit, zstd.MinWindowSize))))
	if err != nil {
		return nil, fmt.Errorf("dcz decoder: %w", err)
	}
	defer d.Close()
	out, err := d.DecodeAll(frame, nil)
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			return nil, ErrTooLarge
		}
		return nil, fmt.Errorf("dcz: %w", err)
	}
	if int64(len(out)) > limit {
		return nil, ErrTooLarge
	}
	return out, nil
}

// dcbWindow is brotli's largest window (16 MiB), which every browser
// decodes; the dictionary is reachable beyond it whatever its size.
const dcbWindow = 24

// encodeDcb encodes src as a dcb body against dict at brotli quality 11.
// It stops within a chunk once ctx ends. go-brrr uses two goroutines at
// this quality when it can.
func encodeDcb(ctx context.Context, dict, src []byte) ([]byte, error) {
	sum := sha256.Sum256(dict)
	var buf bytes.Buffer
	buf.Grow(len(src) / 4)
	buf.Write(dcbMagic)
	buf.Write(sum[:])
	opts := brrr.WriterOptions{LGWin: dcbWindow, SizeHint: uint(len(src))}
	if len(dict) > 0 {
		prepared, err := brrr.PrepareDictionary(dict)
		if err != nil {
			return nil, fmt.Errorf("dcb dictionary: %w", err)
		}
		opts.Dictionaries = []*brrr.PreparedDictionary{prepared}
	}
	w, err := brrr.NewWriterOptions(&buf, brrr.BestCompression, opts)
	if err != nil {
		return nil, fmt.Errorf("dcb encoder: %w", err)
	}
	if err := writeInChunks(ctx, w, src); err != nil {
		w.Close()
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeDcb checks the header names dict and decodes the brotli stream
// with dict attached.
func decodeDcb(enc, dict []byte, limit int64) ([]byte, error) {
	n := len(dcbMagic) + sha256.Size
	if len(enc) < n || !bytes.Equal(enc[:len(dcbMagic)], dcbMagic) {
		return nil, errors.New("dcb: no dcb header")
	}
	if sum := sha256.Sum256(dict); !bytes.Equal(enc[len(dcbMagic):n], sum[:]) {
		return nil, errors.New("dcb: made with another dictionary")
	}
	var opts brrr.ReaderOptions
	if len(dict) > 0 {
		opts.Dictionaries = [][]byte{dict}
	}
	r, err := brrr.NewReaderOptions(bytes.NewReader(enc[n:]), opts)
	if err != nil {
		return nil, fmt.Errorf("dcb decoder: %w", err)
	}
	defer r.Close()
	out, err := readAllLimit(r, limit)
	if err != nil {
		return nil, fmt.Errorf("dcb: %w", err)
	}
	return out, nil
}
