package compress

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
)

// A sidecar that brisk did not write (the brotli, zstd or gzip CLIs,
// cargo-leptos --precompress) must decode to the file's current bytes
// before it is served. Decoding a 2 MB wasm's sidecar takes 10-25 ms,
// which a cold start cannot afford for every coding. gzip and zstd
// streams carry cheap evidence instead: a gzip trailer holds the CRC-32
// and length of what it decodes to (RFC 1952 §2.3.1), a zstd frame its
// content size and, as the CLIs write it by default, the low 32 bits of
// the XXH64 of its content (RFC 8878 §3.1.1). A sidecar whose evidence
// names the file is served at once and decoded in full in the
// background (see content.check), as a manifest's sidecars are; brotli
// carries no such evidence and is decoded before it is served.

// sourceSums are the checksums the gzip and zstd formats keep of what
// a stream decodes to, taken of a file that has such sidecars.
type sourceSums struct {
	crc32 uint32 // IEEE, as gzip keeps it
	xxh64 uint64 // as zstd keeps its low 32 bits
}

// evidenceIn reports whether enc, a stream in coding of encSize bytes,
// says it decodes to a file of plainSize bytes with the checksums sums.
// false means only that there is no such evidence.
func evidenceIn(enc io.ReaderAt, coding string, encSize, plainSize int64, sums *sourceSums) bool {
	at := func(off int64, n int) []byte {
		buf := make([]byte, n)
		if off < 0 || off+int64(n) > encSize {
			return nil
		}
		if _, err := enc.ReadAt(buf, off); err != nil {
			return nil
		}
		return buf
	}
	switch coding {
	case "gzip":
		// Header: ID1 ID2 CM=8 (deflate); trailer: CRC-32, ISIZE.
		head, trailer := at(0, 3), at(encSize-8, 8)
		if encSize < 18 || head == nil || trailer == nil || head[0] != 0x1f || head[1] != 0x8b || head[2] != 8 {
			return false
		}
		return binary.LittleEndian.Uint32(trailer) == sums.crc32 &&
			binary.LittleEndian.Uint32(trailer[4:]) == uint32(plainSize)
	case "zstd":
		var h zstd.Header
		head := at(0, int(min(encSize, zstd.HeaderMaxSize)))
		if head == nil || h.Decode(head) != nil || h.Skippable || !h.HasFCS || !h.HasCheckSum ||
			h.DictionaryID != 0 || h.FrameContentSize != uint64(plainSize) || encSize < int64(h.HeaderSize)+4 {
			return false
		}
		// A frame that needs a window over 8 MB is refused by browsers
		// (RFC 9659); decoding it with brisk's decoder says so.
		window := h.WindowSize
		if h.SingleSegment {
			window = h.FrameContentSize
		}
		trailer := at(encSize-4, 4)
		return window <= MaxZstdWindow && trailer != nil && binary.LittleEndian.Uint32(trailer) == uint32(sums.xxh64)
	}
	return false
}

// hasEvidence reports a coding whose streams can carry evidence.
func hasEvidence(coding string) bool { return coding == "gzip" || coding == "zstd" }

// sourceRead is what reading a file gave: its bytes when they are kept,
// their SHA-256, and, when asked for, the checksums of sourceSums.
type sourceRead struct {
	data []byte // nil for a file left on disk
	n    int64
	sum  [sha256.Size]byte
	sums *sourceSums
}

// read reads r, a file of about size bytes, keeping its bytes or only
// hashing them in passing.
func (sr *sourceRead) read(r io.Reader, size int64, keep, withSums bool) error {
	h := sha256.New()
	sinks := []io.Writer{h}
	var crc hash.Hash32
	var xxh *xxhash.Digest
	if withSums {
		crc, xxh = crc32.NewIEEE(), xxhash.New()
		sinks = append(sinks, crc, xxh)
	}
	if keep {
		data, err := readExactly(r, size)
		if err != nil {
			return err
		}
		for _, w := range sinks {
			w.Write(data)
		}
		sr.data, sr.n = data, int64(len(data))
	} else {
		n, err := io.CopyBuffer(io.MultiWriter(sinks...), r, make([]byte, 64<<10))
		if err != nil {
			return err
		}
		sr.n = n
	}
	h.Sum(sr.sum[:0])
	if withSums {
		sr.sums = &sourceSums{crc32: crc.Sum32(), xxh64: xxh.Sum64()}
	}
	return nil
}

// errTrailingData is a stream followed by bytes that are not part of it:
// what a browser would make of them is anyone's guess.
var errTrailingData = errors.New("bytes after the end of the stream")

// readVerified reads enc to its end, once: into h and keep when they are
// set, and, with c, through c's decoder, comparing the decoded bytes with
// plain a chunk at a time, so that a sidecar is checked without holding
// what it decodes to.
func readVerified(enc io.Reader, h hash.Hash, keep *bytes.Buffer, c *Coding, plain io.Reader) error {
	var sinks []io.Writer
	if h != nil {
		sinks = append(sinks, h)
	}
	if keep != nil {
		sinks = append(sinks, keep)
	}
	in := enc
	if len(sinks) > 0 {
		in = io.TeeReader(enc, io.MultiWriter(sinks...))
	}
	if c == nil {
		_, err := io.Copy(io.Discard, in)
		return err
	}
	dec, err := c.reader(in)
	if err != nil {
		return fmt.Errorf("%s decode: %w", c.Name, err)
	}
	defer dec.Close()
	if err := sameBytes(dec, plain); err != nil {
		return fmt.Errorf("%s decode: %w", c.Name, err)
	}
	if n, err := io.Copy(io.Discard, in); err != nil || n > 0 {
		return cmpErr(err, errTrailingData)
	}
	return nil
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// errOtherBytes is a stream that decodes to other bytes than the file.
var errOtherBytes = errors.New("decodes to other bytes than the file")

// sameBytes reads a and b to their ends and reports whether they hold
// the same bytes.
func sameBytes(a, b io.Reader) error {
	const chunk = 32 << 10
	bufA, bufB := make([]byte, chunk), make([]byte, chunk)
	for {
		na, errA := io.ReadFull(a, bufA)
		nb, errB := io.ReadFull(b, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return errOtherBytes
		}
		endA := errA == io.EOF || errA == io.ErrUnexpectedEOF
		endB := errB == io.EOF || errB == io.ErrUnexpectedEOF
		switch {
		case errA != nil && !endA:
			return errA
		case errB != nil && !endB:
			return errB
		case endA != endB:
			return errOtherBytes
		case endA:
			return nil
		}
	}
}
