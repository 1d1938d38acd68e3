package server

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/brisk-server/brisk/compress"

	"github.com/brisk-server/brisk/internal/testkit"
)

// realWasmEnv names a directory of real wasm-bindgen outputs that
// .ci/fetch-real-wasm filled; tests never download anything themselves.
const realWasmEnv = "BRISK_REAL_WASM_DIR"

// TestRealWasmBindgenOutputs serves wasm-bindgen packages that brisk did
// not write, at the production levels, and checks that every .wasm and .js
// goes out as br, zstd and gzip that decode to the exact file, with the
// headers a browser needs; that brisk's brotli is within 0.5% of
// `brotli -q 11 FILE`; and that the zstd streams decode within an 8 MB
// window (`zstd -d --memory=8MB`).
func TestRealWasmBindgenOutputs(t *testing.T) {
	dir := os.Getenv(realWasmEnv)
	switch {
	case dir == "" && os.Getenv("CI") != "":
		t.Fatalf("%s must be set in CI (.ci/run fetches the packages)", realWasmEnv)
	case dir == "":
		t.Skipf("%s not set; run .ci/fetch-real-wasm DIR and set it", realWasmEnv)
	case testkit.RaceEnabled:
		t.Skip("brotli 11 on megabytes is too slow under -race; .ci/run runs this test without it")
	}
	testkit.RequireTool(t, "brotli")
	testkit.RequireTool(t, "zstd")

	codings, err := compress.NewCodings("br,zstd,gzip", compress.Best)
	if err != nil {
		t.Fatal(err)
	}
	fsys := withoutPairs{os.DirFS(dir)}
	store, err := compress.Open(fsys, compress.Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	store.Precompress(context.Background())
	srv := New(Config{Source: store})

	var files []string
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (path.Ext(p) == ".wasm" || path.Ext(p) == ".js") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no .wasm or .js files under %s", dir)
	}

	var oursBr, cliBr int
	for _, name := range files {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		wantType := "text/javascript; charset=utf-8"
		if path.Ext(name) == ".wasm" {
			wantType = "application/wasm"
		}
		for _, c := range codings {
			resp := do(t, srv, "GET", "/"+name, "Accept-Encoding", c.Name)
			b := body(t, resp)
			h := resp.Header
			if h.Get("Content-Encoding") != c.Name {
				if len(src) < compress.DefaultMinSize {
					continue // too small to be worth compressing
				}
				t.Errorf("%s: asked for %s, got Content-Encoding %q", name, c.Name, h.Get("Content-Encoding"))
				continue
			}
			if h.Get("Content-Type") != wantType || h.Get("Vary") != "Accept-Encoding" ||
				h.Get("Content-Length") != fmt.Sprint(len(b)) || h.Get("Etag") == "" {
				t.Errorf("%s %s: headers %v", name, c.Name, h)
			}
			plain, err := c.Decode(b, int64(len(src)))
			if err != nil || !bytes.Equal(plain, src) {
				t.Errorf("%s %s: does not decode to the file: %v", name, c.Name, err)
			}
			switch c.Name {
			case "br":
				// A file, so that the CLI fits its window as brisk does.
				ref := testkit.Run(t, nil, "brotli", "-q", "11", "-c", filepath.Join(dir, filepath.FromSlash(name)))
				oursBr += len(b)
				cliBr += len(ref)
				t.Logf("%s: %d bytes, br %d (brotli CLI %d, %+.2f%%)", name, len(src), len(b), len(ref),
					100*float64(len(b)-len(ref))/float64(len(ref)))
			case "zstd":
				if got := testkit.Run(t, b, "zstd", "-d", "-q", "-c", "--memory=8MB"); !bytes.Equal(got, src) {
					t.Errorf("%s: zstd CLI with an 8 MB window decoded different bytes", name)
				}
			}
		}
	}
	diff := 100 * float64(oursBr-cliBr) / float64(cliBr)
	t.Logf("brotli total: brisk %d bytes, brotli -q 11 %d bytes (%+.3f%%)", oursBr, cliBr, diff)
	if diff > 0.5 {
		t.Errorf("brisk's brotli output is %.3f%% larger than the CLI's; want within 0.5%%", diff)
	}
}

// withoutPairs hides the pairs/ directory of the fetched packages: the
// earlier releases there are for the delta tests, and encoding them at
// brotli 11 here would only cost time.
type withoutPairs struct{ fs.FS }

func (w withoutPairs) Open(name string) (fs.File, error) {
	if name == "pairs" || strings.HasPrefix(name, "pairs/") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return w.FS.Open(name)
}

func (w withoutPairs) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(w.FS, name)
	if name == "." {
		entries = slices.DeleteFunc(entries, func(e fs.DirEntry) bool { return e.Name() == "pairs" })
	}
	return entries, err
}
