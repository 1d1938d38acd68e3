package compress

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A file of the cache directory swapped for a symlink to a file outside
// it, of the same size and modification time (so that the stamp check
// alone would pass it), is never served: the cache directory is read
// through os.Root, like the site.
func TestSpilledFileSwappedForSymlinkIsRefused(t *testing.T) {
	dir, cache, outside := t.TempDir(), t.TempDir(), t.TempDir()
	codings, _ := NewCodings("gzip", Fast)
	mustWrite(t, filepath.Join(dir, "app.js"), string(textLike(50_000, 0)))
	s, err := OpenDir(dir, Config{Codings: codings, MemoryBudget: 1000, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Precompress(context.Background())
	a, _ := s.Snapshot().Lookup("app.js")
	if len(a.Variants()) != 1 {
		t.Fatalf("app.js has %d variants, want its gzip", len(a.Variants()))
	}
	entries, err := os.ReadDir(cache)
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache directory: %v, %d entries, want the spilled gzip", err, len(entries))
	}
	spilled := filepath.Join(cache, entries[0].Name())
	info, err := os.Stat(spilled)
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte("S"), int(info.Size()))
	outsideFile := filepath.Join(outside, "secret")
	if err := os.WriteFile(outsideFile, secret, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(outsideFile, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(spilled); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outsideFile, spilled); err != nil {
		t.Fatal(err)
	}

	v := a.Variants()[0]
	data, f, err := v.Body()
	if f != nil {
		data, _ = io.ReadAll(f)
		f.Close()
	}
	if bytes.Contains(data, []byte("SSSS")) {
		t.Fatal("served bytes from outside the cache directory")
	}
	if err == nil {
		t.Errorf("Body of a swapped spilled file: no error, %d bytes", len(data))
	}
}
