//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The three files every server serves, as a wasm-bindgen build lays them
// out. The small and large benchmark targets are the first and the last.
const (
	htmlPath = "index.html"
	jsPath   = "pkg/app.js"
	wasmPath = "pkg/app_bg.wasm"
	// smallPath is index.html without its preload links, the small target
	// under wrk: for a page with them brisk sends a 103 Early Hints first,
	// and wrk counts that as a response of its own, which doubled brisk's
	// rate on index.html in earlier runs.
	smallPath = "small.html"
)

const (
	// htmlSize is the size of a typical wasm-bindgen index page, so that
	// the small target measures per-request overhead rather than transfer;
	// jsSize that of a minified bundle of JS glue, which brotli takes to
	// a mid-size body (about 18 KB): the size where net/http's 4 KiB
	// buffer splits a response in two writes.
	htmlSize = 2 << 10
	jsSize   = 64 << 10
	// syntheticWasmSize is the raw size of the generated module. With the
	// generator's mix it brotli-compresses to about 460 KB, the size of the
	// real automerge module's .br, so that -wasm and the default measure
	// the same transfer.
	syntheticWasmSize = 1_800_000
)

// site is the benchmark's document root after precompression, plus the
// bytes a correct br answer must carry for each file.
type site struct {
	root       string
	wasmSource string            // "synthetic" or the base name of -wasm
	rawSize    map[string]int    // path → size of the file itself
	br         map[string][]byte // path → its .br sidecar
	sidecarsBy string            // who wrote the sidecars, for the report
}

// buildBrisk builds ./cmd/brisk as the Dockerfile does (static, stripped,
// trimmed paths), so that the binary measured is the one that is deployed
// rather than a debug build from `go run`.
func buildBrisk(ctx context.Context, moduleDir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/brisk")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/brisk: %w\n%s", err, b)
	}
	return nil
}

// moduleRoot finds the brisk repository we were started from: go run
// compiles into a cache directory, so the working directory is the only
// link back. This module is the repository's bench/ directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	notHere := errors.New("not inside brisk's bench module: run `go run .` from the repository's bench directory")
	if err != nil || mod == "" || mod == os.DevNull {
		return "", notHere
	}
	repo := filepath.Dir(filepath.Dir(mod))
	if _, err := os.Stat(filepath.Join(repo, "cmd", "brisk")); err != nil {
		return "", notHere
	}
	return repo, nil
}

// writeSite writes the three files under root and their .br/.zst/.gz
// sidecars once, so that every server reads the same ones and the
// comparison is about serving, not compressing: with `brisk precompress`
// (and its manifest), or with cli the reference commands, as
// `cargo leptos build --precompress` or a CI step leave them.
func writeSite(ctx context.Context, brisk, root, wasmFile string, syntheticSize int, cli bool) (*site, error) {
	s := &site{root: root, rawSize: map[string]int{}, br: map[string][]byte{}}
	var wasm []byte
	if wasmFile != "" {
		var err error
		if wasm, err = os.ReadFile(wasmFile); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(string(wasm), "\x00asm") {
			return nil, fmt.Errorf("%s is not a wasm module", wasmFile)
		}
		s.wasmSource = filepath.Base(wasmFile)
	} else {
		wasm = syntheticWasm(syntheticSize)
		s.wasmSource = "synthetic"
	}
	files := map[string][]byte{
		htmlPath:  syntheticHTML(htmlSize, true),
		smallPath: syntheticHTML(htmlSize, false),
		jsPath:    syntheticJS(jsSize),
		wasmPath:  wasm,
	}
	for p, data := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			return nil, err
		}
		s.rawSize[p] = len(data)
	}

	start := time.Now()
	if cli {
		logf("brotli -q 11 -w 24, zstd -19 and gzip -9 on each file (brotli 11 on %d KB of wasm takes a few seconds)", len(wasm)/1000)
		for p := range files {
			for _, argv := range [][]string{{"brotli", "-q", "11", "-w", "24", "-k", "-f"}, {"zstd", "-q", "-19", "-k", "-f"}, {"gzip", "-9", "-k", "-f"}} {
				cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], filepath.Join(root, p))...)
				if b, err := cmd.CombinedOutput(); err != nil {
					return nil, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, b)
				}
			}
		}
		s.sidecarsBy = "the brotli, zstd and gzip commands (no manifest)"
	} else {
		logf("brisk precompress %s (brotli 11 on %d KB of wasm takes a few seconds)", root, len(wasm)/1000)
		cmd := exec.CommandContext(ctx, brisk, "precompress", "--log-level", "warn", root)
		cmd.Env = withoutBriskEnv(os.Environ())
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("brisk precompress: %w\n%s", err, b)
		}
		s.sidecarsBy = "`brisk precompress`"
	}
	logf("precompressed in %s", time.Since(start).Round(time.Millisecond))
	for p := range files {
		b, err := os.ReadFile(filepath.Join(root, p+".br"))
		if err != nil {
			return nil, fmt.Errorf("brisk precompress wrote no .br for %s: %w", p, err)
		}
		s.br[p] = b
	}
	return s, nil
}

// withoutBriskEnv drops BRISK_* variables, so that a shell that sets, say,
// BRISK_ENCODINGS=gzip does not silently change what brisk serves here.
func withoutBriskEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "BRISK_") })
}

// words feeds the synthetic text files. Drawing them with a skewed
// distribution gives the repetition of real markup and code: compressible,
// but not to nothing, as a repeated sentence would be.
var words = strings.Fields(`app wasm module load init state view node render update event
	handler signal memory buffer table export import value result error string number
	count index length offset pointer closure callback promise async await fetch
	response request header stream compile instantiate instance global function
	class style layout button input label list item counter click submit form
	title section main footer nav panel dialog route path query param data store`)

// syntheticHTML is a deterministic index page of exactly size bytes, shaped
// like a Leptos/Trunk index.html: a head with preload links and a body of
// prose-like text.
func syntheticHTML(size int, preload bool) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.1, 2, uint64(len(words)-1))
	var b strings.Builder
	b.WriteString("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>benchpeers</title>\n")
	if preload {
		b.WriteString("<link rel=\"modulepreload\" href=\"/pkg/app.js\">\n" +
			"<link rel=\"preload\" href=\"/pkg/app_bg.wasm\" as=\"fetch\" type=\"application/wasm\" crossorigin>\n")
	}
	b.WriteString("</head>\n<body>\n")
	const tail = "<script type=\"module\">import init from '/pkg/app.js'; init('/pkg/app_bg.wasm');</script>\n</body>\n</html>\n"
	for b.Len() < size-len(tail) {
		fmt.Fprintf(&b, "<p class=\"%s-%s\">", words[z.Uint64()], words[z.Uint64()])
		for range 6 + r.IntN(10) {
			b.WriteString(words[z.Uint64()])
			b.WriteByte(' ')
		}
		b.WriteString("</p>\n")
	}
	return fitText([]byte(b.String()), size, tail)
}

// syntheticJS is a deterministic module of exactly size bytes in the style
// of wasm-bindgen glue: many small exported functions calling into wasm
// with varying numeric arguments.
func syntheticJS(size int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	z := rand.NewZipf(r, 1.1, 2, uint64(len(words)-1))
	// A minifier's short names, some used much more than others.
	var names []string
	for i := range 400 {
		names = append(names, strconv.FormatInt(int64(i+10), 36))
	}
	zn := rand.NewZipf(r, 1.05, 4, uint64(len(names)-1))
	id := func() string { return names[zn.Uint64()] }
	var b strings.Builder
	const tail = "export default init;\n"
	for b.Len() < size-len(tail) {
		a, c := words[z.Uint64()], words[z.Uint64()]
		fmt.Fprintf(&b, "function %s(%s,%s){const %s=%s.%s_%s(%s,%d);if(%s[%d]!==0)throw %s(%s[%d]);return %s(%s>>>%d)+%q}",
			id(), id(), id(), id(), id(), a, c, id(), r.IntN(1<<10), id(), r.IntN(8), id(), id(), r.IntN(8), id(), id(),
			r.IntN(32), words[z.Uint64()]+strconv.FormatUint(r.Uint64()%1e3, 36))
	}
	return fitText([]byte(b.String()), size, tail)
}

// fitText cuts body so that body+tail is exactly size bytes, padding with
// spaces if it is short, so that the sizes in the report are the ones
// promised in the flags' help.
func fitText(body []byte, size int, tail string) []byte {
	keep := max(size-len(tail), 0)
	for len(body) < keep {
		body = append(body, ' ')
	}
	return append(body[:keep:keep], tail...)
}

// syntheticWasm returns a valid wasm module of exactly size bytes that
// brotli 11 compresses to about a quarter, like release builds of Rust
// (the real modules in .ci/fetch-real-wasm go to 24-32 %). Its payload is a
// single custom section filled with a skewed mix of recurring byte
// sequences (instruction idioms) and LEB128 numbers (immediates): all-random
// bytes would not compress and all-repeated ones would vanish, and either
// would change the transfer being measured. Seeded, so every machine serves
// the same bytes.
func syntheticWasm(size int) []byte {
	const (
		name = "benchpeers"
		// Tuned by compressing with brisk's brotli settings: 1.8 MB → ~460 KB.
		idioms       = 3000
		immediateOdd = 0.077
	)
	r := rand.New(rand.NewPCG(0xb0, 0x0b))
	alphabet := make([]byte, 48)
	for i := range alphabet {
		alphabet[i] = byte(r.IntN(256))
	}
	pickByte := rand.NewZipf(r, 1.3, 1, uint64(len(alphabet)-1))
	seqs := make([][]byte, idioms)
	for i := range seqs {
		seqs[i] = make([]byte, 3+r.IntN(12))
		for j := range seqs[i] {
			seqs[i][j] = alphabet[pickByte.Uint64()]
		}
	}
	pickSeq := rand.NewZipf(r, 1.1, 8, uint64(idioms-1))

	out := make([]byte, 0, size+32)
	out = append(out, "\x00asm\x01\x00\x00\x00"...)
	out = append(out, 0) // custom section
	// The section length is written as 5 LEB128 bytes (redundant
	// continuation bytes are valid), so that it does not depend on itself.
	sectionLen := size - len(out) - 5
	for i := range 5 {
		c := byte(sectionLen>>(7*i)) & 0x7f
		if i < 4 {
			c |= 0x80
		}
		out = append(out, c)
	}
	out = append(out, byte(len(name)))
	out = append(out, name...)
	if len(out) > size {
		panic("synthetic wasm size too small")
	}
	for len(out) < size {
		if r.Float64() < immediateOdd {
			v := r.Uint64() >> (40 + r.IntN(24))
			for v >= 0x80 {
				out = append(out, byte(v)|0x80)
				v >>= 7
			}
			out = append(out, byte(v))
		} else {
			out = append(out, seqs[pickSeq.Uint64()]...)
		}
	}
	return out[:size]
}
