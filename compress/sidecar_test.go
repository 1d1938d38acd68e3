package compress

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-server/brisk/internal/testkit"
)

// siteDir writes files into a fresh directory and opens it as os.Root.
func siteDir(t *testing.T, files map[string][]byte) (string, *os.Root) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return dir, root
}

func openRoot(t *testing.T, root *os.Root, write bool, log io.Writer) *Store {
	t.Helper()
	codings, err := NewCodings("br,zstd,gzip", Fast)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Codings: codings}
	if write {
		cfg.WriteSidecars = root
	}
	if log != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	s, err := Open(root.FS(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mtimes(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, dir)] = info.ModTime()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPrecompressWritesSidecarsOnceAndServesThemLazily(t *testing.T) {
	app := textLike(40_000, 1)
	dir, root := siteDir(t, map[string][]byte{
		"pkg/app.js":    app,
		"pkg/noise.js":  randomBytes(10_000, 2), // no encoding is smaller
		"img/logo.png":  randomBytes(5_000, 3),
		"pkg/small.css": []byte("a{}"),
	})
	first := openRoot(t, root, true, nil)
	if n := len(first.Precompress(context.Background())); n != 2 {
		t.Fatalf("first run reported %d files, want 2", n)
	}
	codings, _ := NewCodings("br,zstd,gzip", Fast)
	for _, c := range codings {
		enc, err := os.ReadFile(filepath.Join(dir, "pkg", "app.js"+c.Suffix))
		if err != nil {
			t.Fatalf("sidecar %s: %v", c.Suffix, err)
		}
		if plain, err := c.Decode(enc, int64(len(app))); err != nil || !bytes.Equal(plain, app) {
			t.Errorf("sidecar %s does not decode to the file: %v", c.Suffix, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "pkg", "noise.js"+c.Suffix)); !os.IsNotExist(err) {
			t.Errorf("noise.js%s written although it is not smaller", c.Suffix)
		}
	}
	before := mtimes(t, dir)
	for name := range before {
		if strings.Contains(name, ".tmp-") {
			t.Errorf("temporary file left behind: %s", name)
		}
	}
	if _, ok := before["/"+ManifestName]; !ok {
		t.Fatal("no manifest written")
	}

	// A second run, and a server, find everything in place: variants are
	// offered from Open on, nothing is encoded or rewritten.
	time.Sleep(10 * time.Millisecond) // so that a rewrite would show in mtimes
	second := openRoot(t, root, true, nil)
	a, _ := second.Snapshot().Lookup("pkg/app.js")
	if n := len(a.Variants()); n != 3 {
		t.Fatalf("reopened store offers %d variants before Precompress, want 3", n)
	}
	if reports := second.Precompress(context.Background()); len(reports) != 0 {
		t.Errorf("second run redid %d files: %+v", len(reports), reports)
	}
	after := mtimes(t, dir)
	for name, m := range before {
		if !after[name].Equal(m) {
			t.Errorf("%s rewritten by the second run", name)
		}
	}
	for _, v := range a.Variants() {
		c := map[string]*Coding{}
		for _, cc := range codings {
			c[cc.Name] = cc
		}
		plain, err := c[v.Coding].Decode(mustBytes(t, &v), int64(len(app)))
		if err != nil || !bytes.Equal(plain, app) {
			t.Errorf("lazily read %s variant is wrong: %v", v.Coding, err)
		}
	}
	if _, ok := second.Snapshot().Lookup("pkg/app.js.br"); ok {
		t.Error("a sidecar is served as an asset of its own")
	}
}

func TestStaleSidecarIsNeverServed(t *testing.T) {
	_, root := siteDir(t, map[string][]byte{"app.js": textLike(30_000, 1)})
	openRoot(t, root, true, nil).Precompress(context.Background())

	// The site is rebuilt: app.js changes, its sidecars are now stale.
	changed := textLike(31_000, 9)
	if err := root.WriteFile("app.js", changed, 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	s := openRoot(t, root, false, &log)
	a, _ := s.Snapshot().Lookup("app.js")
	if n := len(a.Variants()); n != 0 {
		t.Fatalf("%d stale variants offered at Open", n)
	}
	s.Precompress(context.Background())
	if !strings.Contains(log.String(), "stale or corrupt sidecar ignored") {
		t.Errorf("stale sidecars not logged:\n%s", log.String())
	}
	if n := len(a.Variants()); n != 3 {
		t.Fatalf("%d variants after Precompress, want br, zstd and gzip of the new file", n)
	}
	codings, _ := NewCodings("br,zstd,gzip", Fast)
	for i, v := range a.Variants() {
		for _, c := range codings {
			if c.Name == v.Coding {
				plain, err := c.Decode(mustBytes(t, &a.Variants()[i]), int64(len(changed)))
				if err != nil || !bytes.Equal(plain, changed) {
					t.Errorf("%s variant is not of the new file: %v", v.Coding, err)
				}
			}
		}
	}
}

// corruptKeepingStamp flips a byte of the file at p and restores its
// modification time: a change that size and mtime cannot reveal.
func corruptKeepingStamp(t *testing.T, p string) {
	t.Helper()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// variantOf returns a's representation in coding.
func variantOf(t *testing.T, a *Asset, coding string) *Representation {
	t.Helper()
	vs := a.Variants()
	for i := range vs {
		if vs[i].Coding == coding {
			return &vs[i]
		}
	}
	t.Fatalf("%s: no %s variant offered", a.Path, coding)
	return nil
}

// A file changed behind the manifest's back, keeping its size and mtime,
// is caught when its bytes are first read: the digest no longer matches.
func TestManifestDigestCheckedOnFirstRead(t *testing.T) {
	dir, root := siteDir(t, map[string][]byte{"app.js": textLike(30_000, 1)})
	openRoot(t, root, true, nil).Precompress(context.Background())
	corruptKeepingStamp(t, filepath.Join(dir, "app.js.br"))
	a, _ := openRoot(t, root, false, nil).Snapshot().Lookup("app.js")
	if _, err := variantOf(t, a, "br").Bytes(); err == nil {
		t.Error("a corrupted sidecar passed its digest check")
	}
}

// Bytes a manifest vouches for are served from disk at once; checkDelay
// after their first use, a background read takes a corrupted sidecar out
// of service and keeps a sound one in memory.
func TestManifestBytesCheckedAfterFirstServe(t *testing.T) {
	dir, root := siteDir(t, map[string][]byte{"good.js": textLike(30_000, 1), "bad.js": textLike(30_000, 2)})
	openRoot(t, root, true, nil).Precompress(context.Background())
	corruptKeepingStamp(t, filepath.Join(dir, "bad.js.br"))
	goodBr, err := os.ReadFile(filepath.Join(dir, "good.js.br"))
	if err != nil {
		t.Fatal(err)
	}
	onDisk := func(r *Representation) bool {
		data, f, err := r.Body()
		if f != nil {
			f.Close()
		}
		return err == nil && data == nil && f != nil
	}
	defer func(d time.Duration) { checkDelay = d }(checkDelay)

	checkDelay = time.Hour // nothing is read during a cold start's first requests
	snap := openRoot(t, root, false, nil).Snapshot()
	good, _ := snap.Lookup("good.js")
	bad, _ := snap.Lookup("bad.js")
	for range 3 {
		if !onDisk(variantOf(t, good, "br")) || !onDisk(variantOf(t, bad, "br")) {
			t.Fatal("bytes vouched for by the manifest not served from disk before their check")
		}
	}

	checkDelay = 0
	snap = openRoot(t, root, false, nil).Snapshot()
	good, _ = snap.Lookup("good.js")
	bad, _ = snap.Lookup("bad.js")
	badBr := variantOf(t, bad, "br")
	onDisk(variantOf(t, good, "br"))
	onDisk(badBr)
	testkit.Eventually(t, 10*time.Second, "the sound sidecar in memory and the corrupted one refused", func() bool {
		data, _, goodErr := variantOf(t, good, "br").Body()
		_, _, badErr := badBr.Body()
		return goodErr == nil && bytes.Equal(data, goodBr) && badErr != nil
	})
	// The refused sidecar is no longer offered: a fresh encoding of the
	// file takes its place.
	codings, _ := NewCodings("br", Fast)
	testkit.Eventually(t, 10*time.Second, "bad.js encoded afresh", func() bool {
		for i, v := range bad.Variants() {
			if data, _, err := bad.Variants()[i].Body(); v.Coding == "br" && err == nil {
				plain, err := codings[0].Decode(data, 30_000)
				return err == nil && bytes.Equal(plain, textLike(30_000, 2))
			}
		}
		return false
	})
}

// Sidecars written by other tools (cargo-leptos --precompress, the CLIs)
// are used once decoding proves them right, or, for gzip and zstd, once
// their trailer names the file's bytes, and replaced when they do not.
func TestForeignSidecars(t *testing.T) {
	src := textLike(30_000, 1)
	codings, _ := NewCodings("gzip", Best)
	good, err := codings[0].Encode(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	_, root := siteDir(t, map[string][]byte{
		"good.js": src, "good.js.gz": good,
		"bad.js": src, "bad.js.gz": []byte("not gzip at all"),
		"old.js": src, "old.js.gz": mustEncode(t, codings[0], textLike(30_000, 2)),
	})
	var log bytes.Buffer
	s := openRoot(t, root, false, &log)
	reports := s.Precompress(context.Background())
	source := map[string]string{}
	for _, r := range reports {
		for _, v := range r.Variants {
			if v.Coding == "gzip" {
				source[r.Path] = v.Source
			}
		}
	}
	want := map[string]string{"good.js": "sidecar, checked later", "bad.js": "encoded", "old.js": "encoded"}
	for name, w := range want {
		if source[name] != w {
			t.Errorf("%s: gzip variant from %q, want %q", name, source[name], w)
		}
	}
	a, _ := s.Snapshot().Lookup("good.js")
	for i, v := range a.Variants() {
		if v.Coding == "gzip" && !bytes.Equal(mustBytes(t, &a.Variants()[i]), good) {
			t.Error("the verified sidecar's bytes are not the ones served")
		}
	}
	if c := strings.Count(log.String(), "stale or corrupt sidecar ignored"); c != 2 {
		t.Errorf("%d stale sidecars logged, want 2:\n%s", c, log.String())
	}
}

func mustEncode(t *testing.T, c *Coding, data []byte) []byte {
	t.Helper()
	out, err := c.Encode(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
