package compress

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-server/brisk/internal/testkit"
)

// rebuildWasmSize is the size of the module a rebuild rewrites: a
// mid-sized Rust app, between the 1.8 MB demo and a 9 MB one such as ruff.
const rebuildWasmSize = 4 << 20

// realWasmEnv names a directory of real wasm-bindgen outputs (see
// .ci/fetch-real-wasm); the benchmark then rebuilds the real module
// closest to rebuildWasmSize instead of the synthetic one.
const realWasmEnv = "BRISK_REAL_WASM_DIR"

// Bounds on each wait, so that a rebuild that is never picked up fails
// the benchmark instead of hanging it. Brotli 11 of 4 MB takes about ten
// seconds on one core; the race detector makes it ten times slower.
var (
	identityTimeout = 10 * time.Second
	variantTimeout  = 60 * time.Second
)

func init() {
	if testkit.RaceEnabled {
		identityTimeout *= 10
		variantTimeout *= 10
	}
}

// BenchmarkRebuildLatency measures what a developer waits for after a
// build rewrites a 4 MB wasm under a watched root: how long until the new
// version is served at all (identity), and then compressed with each
// coding. dev is `brisk serve --dev` (compress.Fast), prod is a watched
// production root (compress.Best). The metrics are milliseconds from the
// rename that completes the write, averaged over iterations; ns/op, the
// time of a whole iteration, would only add them up, and is hidden.
//
//	go test -run XXX -bench RebuildLatency -benchtime=3x ./compress
func BenchmarkRebuildLatency(b *testing.B) {
	name, src := rebuildSource(b)
	for _, bc := range []struct {
		name  string
		level Level
	}{{"dev", Fast}, {"prod", Best}} {
		b.Run(bc.name, func(b *testing.B) { benchmarkRebuild(b, name, src, bc.level) })
	}
}

// benchmarkRebuild measures one level: a watched root holding the module
// only, so that nothing else competes for the encoders.
func benchmarkRebuild(b *testing.B, name string, src []byte, level Level) {
	codings, err := NewCodings("br,zstd,gzip", level)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, src, 0o644); err != nil {
		b.Fatal(err)
	}
	store, err := OpenDir(dir, Config{Codings: codings})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	watching := make(chan error, 1)
	go func() { watching <- store.Watch(ctx) }()
	defer func() {
		cancel()
		if err := <-watching; err != nil {
			b.Error(err)
		}
	}()

	// Let the first version finish encoding, so that the first measured
	// rebuild does not share the CPUs with it.
	first, _ := store.Snapshot().Lookup(name)
	waitVariants(b, first, codings, time.Now())

	// Each version differs from the last in eight bytes in the middle, as
	// far from either end as a change can be: the file still compresses
	// exactly as well, so that every iteration costs the same.
	mid := len(src) / 2
	version := func(v uint64) []byte {
		data := bytes.Clone(src)
		binary.LittleEndian.PutUint64(data[mid:], binary.LittleEndian.Uint64(src[mid:])^v)
		return data
	}
	sums := map[string]time.Duration{}
	var last *Asset
	var v uint64
	for b.Loop() {
		v++
		want := version(v)
		testkit.ReplaceFile(b, file, want)
		wrote := time.Now()
		a, identity := waitIdentity(b, store, name, want, wrote)
		sums["identity"] += identity
		for coding, d := range waitVariants(b, a, codings, wrote) {
			sums[coding] += d
		}
		last = a
	}
	n := float64(b.N)
	for _, metric := range []string{"identity", "gzip", "zstd", "br"} {
		b.ReportMetric(float64(sums[metric])/float64(time.Millisecond)/n, metric+"-ms")
	}
	b.ReportMetric(0, "ns/op")
	if last != nil {
		var sizes []string
		for _, r := range last.Variants() {
			sizes = append(sizes, fmt.Sprintf("%s %.1f%%", r.Coding, 100*float64(r.Size)/float64(last.Identity.Size)))
		}
		b.Logf("%s, %d bytes: %s", name, last.Identity.Size, strings.Join(sizes, ", "))
	}
}

// waitIdentity polls the store every millisecond until it serves want as
// name, and returns that asset and how long after wrote it appeared. An
// asset is compared once: a published asset never changes its bytes, so
// the 4 MB comparison runs only when the store publishes a new one.
func waitIdentity(b *testing.B, store *Store, name string, want []byte, wrote time.Time) (*Asset, time.Duration) {
	b.Helper()
	var seen *Asset
	for {
		now := time.Now()
		if a, ok := store.Snapshot().Lookup(name); ok && a != seen {
			seen = a
			if got, err := a.Identity.Bytes(); err == nil && bytes.Equal(got, want) {
				return a, now.Sub(wrote)
			}
		}
		if now.Sub(wrote) > identityTimeout {
			b.Fatalf("%s: the rewritten version was not served within %s", name, identityTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitVariants polls a's variants every millisecond until every coding
// has one, and returns how long after since each appeared. Each variant
// may take variantTimeout after the one before it.
func waitVariants(b *testing.B, a *Asset, codings []*Coding, since time.Time) map[string]time.Duration {
	b.Helper()
	appeared := map[string]time.Duration{}
	progress := time.Now()
	for {
		now := time.Now()
		for _, r := range a.Variants() {
			if _, ok := appeared[r.Coding]; !ok {
				appeared[r.Coding] = now.Sub(since)
				progress = now
			}
		}
		if len(appeared) == len(codings) {
			return appeared
		}
		if now.Sub(progress) > variantTimeout {
			b.Fatalf("%s: only %d of %d variants within %s of the last one", a.Path, len(appeared), len(codings), variantTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// rebuildSource returns the module to rebuild: the real one closest to
// rebuildWasmSize when realWasmEnv names a directory, else a synthetic one.
func rebuildSource(b *testing.B) (name string, data []byte) {
	dir := os.Getenv(realWasmEnv)
	if dir == "" {
		return "app_bg.wasm", wasmLike(rebuildWasmSize)
	}
	var best string
	bestDiff := int64(-1)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".wasm" {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		diff := info.Size() - rebuildWasmSize
		if diff < 0 {
			diff = -diff
		}
		if bestDiff < 0 || diff < bestDiff {
			best, bestDiff = p, diff
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if best == "" {
		b.Fatalf("%s=%s holds no .wasm file", realWasmEnv, dir)
	}
	data, err = os.ReadFile(best)
	if err != nil {
		b.Fatal(err)
	}
	return filepath.Base(best), data
}

// wasmLike makes size deterministic bytes that compress like a release
// build of a Rust wasm app (brotli 11 to about 27%, brotli 5 to about 33%,
// gzip 9 to about 45%), so that encode times are realistic: random bytes
// would not compress, and text would compress far better. Code is built
// the way compilers build it: function prologues, then instructions with
// LEB128 immediates, about half of them from a large set of recurring
// snippets (inlined helpers, monomorphized generics) picked with a
// Zipf-like skew, the rest fresh; a fifth of the module is data, strings
// and little-endian tables.
func wasmLike(size int) []byte {
	r := rand.New(rand.NewPCG(0x6272, 0x69736b))
	callee := rand.NewZipf(r, 1.1, 4, 6000)
	local := rand.NewZipf(r, 1.4, 2, 40)
	konst := rand.NewZipf(r, 1.05, 1, 1<<24)
	offset := rand.NewZipf(r, 1.2, 2, 1<<12)
	// i32 add, sub, mul, and, or, shl, shr_u, eq, ne, lt_s, lt_u, gt_u,
	// eqz, drop, return.
	arith := []byte{0x6a, 0x6b, 0x6c, 0x71, 0x72, 0x74, 0x76, 0x46, 0x47, 0x48, 0x49, 0x4b, 0x45, 0x1a, 0x0f}
	instr := func(out []byte) []byte {
		switch k := r.IntN(100); {
		case k < 25: // local.get
			return binary.AppendUvarint(append(out, 0x20), local.Uint64())
		case k < 35: // local.set, local.tee
			return binary.AppendUvarint(append(out, 0x21+byte(r.IntN(2))), local.Uint64())
		case k < 45: // i32.const
			return binary.AppendUvarint(append(out, 0x41), konst.Uint64())
		case k < 56: // loads: opcode, alignment, offset
			return binary.AppendUvarint(append(out, 0x28+byte(r.IntN(6)), 2), offset.Uint64()&^3)
		case k < 62: // stores
			return binary.AppendUvarint(append(out, 0x36+byte(r.IntN(6)), 2), offset.Uint64()&^3)
		case k < 70: // call
			return binary.AppendUvarint(append(out, 0x10), callee.Uint64())
		case k < 86:
			return append(out, arith[r.IntN(len(arith))])
		case k < 91: // block, loop (no result)
			return append(out, 0x02+byte(r.IntN(2)), 0x40)
		case k < 96: // br_if
			return append(out, 0x0d, byte(r.IntN(4)))
		default: // end
			return append(out, 0x0b)
		}
	}
	snippets := make([][]byte, 30000)
	for i := range snippets {
		for n := 3 + r.IntN(16); n > 0; n-- {
			snippets[i] = instr(snippets[i])
		}
	}
	pick := rand.NewZipf(r, 1.02, 8, uint64(len(snippets)-1))

	out := append(make([]byte, 0, size+64), 0, 'a', 's', 'm', 1, 0, 0, 0)
	for len(out) < size*4/5 {
		// Locals, then the shadow-stack prologue every Rust function has:
		// global.get 0; i32.const frame; i32.sub; local.tee n; global.set 0.
		n := local.Uint64()
		out = binary.AppendUvarint(out, n+1)
		out = append(out, 0x7f, 0x23, 0x00, 0x41)
		out = binary.AppendUvarint(out, 16*(1+uint64(r.IntN(8))))
		out = binary.AppendUvarint(append(out, 0x6b, 0x22), n)
		out = append(out, 0x24, 0x00)
		for range 2 + r.IntN(40) {
			if r.IntN(100) < 45 {
				out = instr(out)
			} else {
				out = append(out, snippets[pick.Uint64()]...)
			}
		}
		out = append(out, 0x0b)
	}
	words := strings.Fields("core::panicking alloc::vec::Vec wasm_bindgen::JsValue called `Option::unwrap()` on a `None` value " +
		"index out of bounds: the len is but the index is src/lib.rs capacity overflow RefCell already borrowed " +
		"__wbindgen_malloc __wbindgen_realloc serde_json::Value std::collections::HashMap invalid utf-8 sequence")
	for len(out) < size {
		if r.IntN(3) == 0 {
			for range 4 + r.IntN(12) {
				out = binary.LittleEndian.AppendUint32(out, uint32(konst.Uint64()))
			}
			continue
		}
		out = append(append(out, words[r.IntN(len(words))]...), 0)
	}
	return out[:size]
}
