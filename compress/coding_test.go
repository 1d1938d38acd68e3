package compress

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/brisk-server/brisk/internal/testkit"
)

// textLike returns n bytes that compress like source code: words drawn
// from a small vocabulary, deterministically.
func textLike(n int, seed uint64) []byte {
	words := strings.Fields("func return let const import export wasm memory table i32.add local.get " +
		"call_indirect __wbindgen_malloc { } ( ) ; => async await Promise instantiateStreaming")
	r := rand.New(rand.NewPCG(seed, seed))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(" \n"[r.IntN(2)])
	}
	return b.Bytes()[:n]
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, ^seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testLevel() Level {
	if testkit.RaceEnabled {
		return Fast
	}
	return Best
}

// Round trips use the libraries' own decoders: golden compressed bytes
// would break on every encoder release.
func TestCodingsRoundTrip(t *testing.T) {
	inputs := map[string][]byte{
		"empty":   {},
		"one":     []byte("x"),
		"text":    textLike(200_000, 1),
		"random":  randomBytes(64<<10, 2),
		"zeros":   make([]byte, 1<<20),
		"unicode": []byte(strings.Repeat("héllo wörld ☃ ", 500)),
	}
	for _, level := range []Level{Fast, testLevel()} {
		codings, err := NewCodings("br,zstd,gzip", level)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range codings {
			for name, in := range inputs {
				enc, err := c.Encode(context.Background(), in)
				if err != nil {
					t.Fatalf("%s/%s: %v", c.Name, name, err)
				}
				out, err := c.Decode(enc, int64(len(in)))
				if err != nil {
					t.Fatalf("%s/%s: decode: %v", c.Name, name, err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("%s/%s: round trip changed the data", c.Name, name)
				}
			}
		}
	}
}

func TestDecodeLimit(t *testing.T) {
	codings, err := NewCodings("br,zstd,gzip", Fast)
	if err != nil {
		t.Fatal(err)
	}
	in := textLike(10_000, 3)
	for _, c := range codings {
		enc, err := c.Encode(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decode(enc, int64(len(in)-1)); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: decode past limit: got %v, want ErrTooLarge", c.Name, err)
		}
		if _, err := c.Decode(enc[:len(enc)/2], int64(len(in))); err == nil {
			t.Errorf("%s: truncated stream decoded without error", c.Name)
		}
	}
}

func TestNewCodings(t *testing.T) {
	tests := []struct {
		list    string
		want    []string
		wantErr bool
	}{
		{"br,zstd,gzip", []string{"br", "zstd", "gzip"}, false},
		{" GZIP , br ", []string{"gzip", "br"}, false},
		{"", nil, false},
		{"br,,", []string{"br"}, false},
		{"br,br", nil, true},
		{"deflate", nil, true},
		{"br;q=1", nil, true},
	}
	for _, tt := range tests {
		got, err := NewCodings(tt.list, Fast)
		if (err != nil) != tt.wantErr {
			t.Errorf("NewCodings(%q) error = %v, want error %v", tt.list, err, tt.wantErr)
			continue
		}
		var names []string
		for _, c := range got {
			names = append(names, c.Name)
		}
		if strings.Join(names, ",") != strings.Join(tt.want, ",") {
			t.Errorf("NewCodings(%q) = %v, want %v", tt.list, names, tt.want)
		}
	}
}

// RFC 9659 §3: an HTTP zstd stream must decode with an 8 MB window. The
// input is 11 MB: 9 MB of noise followed by a repeat of its first 2 MB,
// a match 9 MB back that an encoder with a larger window would take.
func TestZstdWindowAtMost8MB(t *testing.T) {
	noise := randomBytes(9<<20, 4)
	in := append(noise, noise[:2<<20]...)
	c := zstdCoding(testLevel())
	enc, err := c.Encode(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(enc); err != nil {
		t.Fatal(err)
	}
	if h.SingleSegment || h.WindowSize > MaxZstdWindow {
		t.Fatalf("frame header: single segment %v, window %d; want a window of at most %d",
			h.SingleSegment, h.WindowSize, MaxZstdWindow)
	}
	out, err := c.Decode(enc, int64(len(in))) // the decoder refuses windows over 8 MB
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Fatal("round trip changed the data")
	}
	testkit.RequireTool(t, "zstd")
	if got := testkit.Run(t, enc, "zstd", "-d", "-q", "-c", "--memory=8MB"); !bytes.Equal(got, in) {
		t.Fatal("zstd CLI decoded different data")
	}
}

// Brotli at quality 11 allocates tables in proportion to its window, so
// the window must fit the input, as the brotli CLI's own default does:
// with a 16 MiB window, every encode took 180 MB whatever its size, and
// the pooled writers kept it, which made a server that rebuilds grow
// without bound. The output is then byte for byte `brotli -q 11`.
func TestBrotliMemoryFitsTheInput(t *testing.T) {
	c := brotliCoding(Best)
	src := textLike(20_000, 3)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := c.Encode(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if took := after.TotalAlloc - before.TotalAlloc; took > 32<<20 {
		t.Errorf("encoding 20 KB allocated %d MB", took>>20)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if kept := int64(after.HeapInuse) - int64(before.HeapInuse); kept > 8<<20 {
		t.Errorf("%d MB still held after the encode", kept>>20)
	}
}

// The window brotli uses is the one the CLI picks without -w: the
// smallest that holds the file, at most 16 MiB; the bytes are the same.
func TestBrotliMatchesTheCLI(t *testing.T) {
	if testkit.RaceEnabled {
		t.Skip("brotli 11 is too slow under -race; .ci/run runs this test without it")
	}
	cli := testkit.RequireTool(t, "brotli")
	for _, n := range []int{100, 1008, 1009, 70_000, 300_000} {
		src := textLike(n, uint64(n))
		// A file, not stdin: only knowing the size lets the CLI fit the
		// window (from stdin it takes 16 MiB).
		name := filepath.Join(t.TempDir(), "in")
		if err := os.WriteFile(name, src, 0o644); err != nil {
			t.Fatal(err)
		}
		want, err := exec.Command(cli, "-q", "11", "-c", name).Output()
		if err != nil {
			t.Fatal(err)
		}
		got, err := brotliCoding(Best).Encode(context.Background(), src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%d bytes: brisk's br (%d bytes) is not the CLI's (%d bytes)", n, len(got), len(want))
		}
	}
}
