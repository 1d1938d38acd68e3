package compress

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"regexp"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/brisk-server/brisk/internal/testkit"
)

func sumsOf(src []byte) *sourceSums {
	return &sourceSums{crc32: crc32.ChecksumIEEE(src), xxh64: xxhash.Sum64(src)}
}

func zstdFrame(t *testing.T, src []byte, opts ...zstd.EOption) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(src, nil)
}

// wideWindow sets a frame's window to 16 MB, over what RFC 9659 allows.
func wideWindow(t *testing.T, frame []byte) []byte {
	t.Helper()
	out := bytes.Clone(frame)
	if out[4]&0x20 != 0 {
		t.Fatal("a single-segment frame has no window descriptor")
	}
	out[5] = 14 << 3 // Window_Log 10+14: 16 MB
	return out
}

// Evidence is read from the stream's own header and trailer, and only
// ever vouches for the file it names.
func TestEvidenceIn(t *testing.T) {
	src, other := textLike(50_000, 1), textLike(50_000, 2)
	gz := mustEncode(t, gzipCoding(Fast), src)
	withTrailer := func(enc []byte, crc, size uint32) []byte {
		out := bytes.Clone(enc)
		binary.LittleEndian.PutUint32(out[len(out)-8:], crc)
		binary.LittleEndian.PutUint32(out[len(out)-4:], size)
		return out
	}
	zst := zstdFrame(t, src)
	tests := []struct {
		name, coding string
		enc          []byte
		want         bool
	}{
		{"gzip of the file", "gzip", gz, true},
		{"gzip of another file", "gzip", mustEncode(t, gzipCoding(Fast), other), false},
		{"gzip with the file's length, another CRC", "gzip", withTrailer(gz, crc32.ChecksumIEEE(other), uint32(len(src))), false},
		{"gzip with the file's CRC, another length", "gzip", withTrailer(gz, crc32.ChecksumIEEE(src), uint32(len(src)+1)), false},
		{"not gzip", "gzip", append([]byte("xx"), gz[2:]...), false},
		{"too short", "gzip", gz[:10], false},
		{"zstd of the file, with a checksum", "zstd", zst, true},
		{"zstd without a checksum", "zstd", zstdFrame(t, src, zstd.WithEncoderCRC(false)), false},
		{"zstd of another file", "zstd", zstdFrame(t, other), false},
		{"zstd with a window over 8 MB", "zstd", wideWindow(t, zstdFrame(t, src, zstd.WithSingleSegment(false))), false},
		{"a skippable frame first", "zstd", append([]byte{0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0}, zst...), false},
		{"brotli carries none", "br", mustEncode(t, brotliCoding(Fast), src), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := evidenceIn(bytes.NewReader(tt.enc), tt.coding, int64(len(tt.enc)), int64(len(src)), sumsOf(src))
			if got != tt.want {
				t.Errorf("evidenceIn = %v, want %v", got, tt.want)
			}
		})
	}
}

// What a cold start does with sidecars other tools wrote, and no
// manifest: a request can wait for them (Arriving) until a Precompress
// run has checked them; brotli is decoded in full first, gzip and zstd
// are taken on their evidence and decoded in full after their first use;
// one whose evidence lied is then refused for good and encoded afresh.
func TestForeignSidecarsAtColdStart(t *testing.T) {
	defer func(d time.Duration) { checkDelay = d }(checkDelay)
	checkDelay = 0
	app, lied := textLike(200_000, 1), textLike(200_000, 3)
	liar := mustEncode(t, gzipCoding(Fast), lied)
	liar[len(liar)/2] ^= 0xff // a damaged body under a trailer that names the file
	_, root := siteDir(t, map[string][]byte{
		"app.wasm": app, "app.wasm.br": mustEncode(t, brotliCoding(Fast), app),
		"app.wasm.zst": zstdFrame(t, app), "app.wasm.gz": mustEncode(t, gzipCoding(Fast), app),
		"lied.js": lied, "lied.js.gz": liar,
		"nosum.js": app, "nosum.js.zst": zstdFrame(t, app, zstd.WithEncoderCRC(false)),
	})
	var log testkit.Log
	s := openRoot(t, root, false, &log)
	a, _ := s.Snapshot().Lookup("app.wasm")
	arriving := a.Arriving()
	if arriving == nil {
		t.Fatal("sidecars found at open are not awaited")
	}
	source := map[string]string{}
	for _, r := range s.Precompress(context.Background()) {
		for _, v := range r.Variants {
			source[r.Path+" "+v.Coding] = v.Source
		}
	}
	select {
	case <-arriving:
	default:
		t.Error("Arriving still open after Precompress checked every sidecar")
	}
	for key, want := range map[string]string{
		"app.wasm br": "sidecar", "app.wasm zstd": "sidecar, checked later", "app.wasm gzip": "sidecar, checked later",
		"lied.js gzip": "sidecar, checked later", "nosum.js zstd": "sidecar",
	} {
		if source[key] != want {
			t.Errorf("%s: from %q, want %q", key, source[key], want)
		}
	}
	liedAsset, _ := s.Snapshot().Lookup("lied.js")
	taken := variantOf(t, liedAsset, "gzip")
	taken.Body() // its first use starts the check
	testkit.Eventually(t, 10*time.Second, "the damaged gzip refused and encoded afresh", func() bool {
		_, _, err := taken.Body()
		if err == nil {
			return false
		}
		for i, v := range liedAsset.Variants() {
			if v.Coding == "gzip" {
				data, _, err := liedAsset.Variants()[i].Body()
				plain, derr := gzipCoding(Fast).Decode(data, int64(len(lied)))
				return err == nil && derr == nil && bytes.Equal(plain, lied)
			}
		}
		return false
	})
	log.WaitFor(t, regexp.MustCompile(`failed its check`), 5*time.Second)
}
