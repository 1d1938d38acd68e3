package compress

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brisk-server/brisk/internal/testkit"
)

// A site larger than the memory budget keeps its small files in memory and
// the rest on disk: the large files where they are, their variants in the
// cache directory. Every byte served is still exact.
func TestMemoryBudgetKeepsOverflowOnDisk(t *testing.T) {
	small, big := textLike(2_000, 1), textLike(600_000, 2)
	_, root := siteDir(t, map[string][]byte{"small.js": small, "big.wasm": big})
	codings, _ := NewCodings("br,gzip", Fast)
	const limit = 100_000
	s, err := OpenDir(root.Name(), Config{Codings: codings, MemoryBudget: limit})
	if err != nil {
		t.Fatal(err)
	}
	s.Precompress(context.Background())

	body := func(r *Representation) (resident bool, data []byte) {
		t.Helper()
		d, f, err := r.Body()
		if err != nil {
			t.Fatal(err)
		}
		if f == nil {
			return true, d
		}
		defer f.Close()
		d, err = io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		return false, d
	}
	a, _ := s.Snapshot().Lookup("small.js")
	if resident, data := body(&a.Identity); !resident || !bytes.Equal(data, small) {
		t.Errorf("small.js: resident %v, exact %v", resident, bytes.Equal(data, small))
	}
	a, _ = s.Snapshot().Lookup("big.wasm")
	if resident, data := body(&a.Identity); resident || !bytes.Equal(data, big) {
		t.Errorf("big.wasm: resident %v (want on disk), exact %v", resident, bytes.Equal(data, big))
	}
	byName := map[string]*Coding{}
	for _, c := range codings {
		byName[c.Name] = c
	}
	onDisk := 0
	for i, v := range a.Variants() {
		resident, data := body(&a.Variants()[i])
		if !resident {
			onDisk++
		}
		plain, err := byName[v.Coding].Decode(data, int64(len(big)))
		if err != nil || !bytes.Equal(plain, big) {
			t.Errorf("big.wasm %s variant: %v", v.Coding, err)
		}
	}
	if onDisk == 0 {
		t.Error("no variant of big.wasm went to disk, though they do not fit the budget")
	}
	if used := s.MemoryUsed(); used > limit {
		t.Errorf("%d bytes in memory, budget %d", used, limit)
	}
	dir := s.spill.dir
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cache directory %s left behind", dir)
	}
}

// residentBytes is what a snapshot's representations hold in memory.
func residentBytes(snap *Snapshot) int64 {
	var n int64
	count := func(r *Representation) {
		if r.content != nil {
			if data := r.content.mem.Load(); data != nil {
				n += int64(len(*data))
			}
		}
	}
	for _, a := range snap.assets {
		count(&a.Identity)
		for i := range a.Variants() {
			count(&a.Variants()[i])
		}
		for i := range a.Deltas() {
			count(&a.Deltas()[i].Representation)
		}
	}
	return n
}

// dictionaryBytes is what a store's kept earlier versions hold in memory.
func dictionaryBytes(s *Store) int64 {
	s.dicts.mu.Lock()
	defer s.dicts.mu.Unlock()
	var n int64
	for _, fv := range s.dicts.families {
		for _, d := range fv.dicts {
			if data := d.bytes.content.mem.Load(); data != nil {
				n += int64(len(*data))
			}
		}
	}
	return n
}

// rescanUntilRead rescans until no file is left waiting to settle.
func rescanUntilRead(t *testing.T, s *Store) {
	t.Helper()
	for range 100 {
		retry, err := s.Rescan()
		if err != nil {
			t.Fatal(err)
		}
		if retry == 0 {
			return
		}
		time.Sleep(retry)
	}
	t.Fatal("files never settled")
}

// 0 ≤ used ≤ budget holds through rebuilds, and used is exactly what the
// current versions hold in memory: with a Transform (dev mode, whose
// bytes exist only in brisk) and with a file system given once (the
// embedded site, brisk precompress).
func TestMemoryBudgetStaysInBounds(t *testing.T) {
	const limit = 40_000
	codings, _ := NewCodings("gzip", Fast)
	check := func(t *testing.T, s *Store, when string) {
		t.Helper()
		used := s.MemoryUsed()
		if used < 0 || used > limit {
			t.Errorf("%s: %d bytes counted, want 0 ≤ used ≤ %d", when, used, limit)
		}
		if held := residentBytes(s.Snapshot()); used != held {
			t.Errorf("%s: %d bytes counted, %d held by the current versions", when, used, held)
		}
	}
	names := []string{"a.html", "b.html", "c.html", "d.html", "e.html"}

	t.Run("transform", func(t *testing.T) {
		dir := t.TempDir()
		write := func(round int) {
			for i, name := range names {
				mustWrite(t, filepath.Join(dir, name), string(textLike(12_000, uint64(10*round+i))))
			}
		}
		write(0)
		mark := func(_ string, data []byte) []byte { return append(slices.Clone(data), "<!-- dev -->"...) }
		s, err := OpenDir(dir, Config{Codings: codings, MemoryBudget: limit, Transform: mark, SettleAge: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.Precompress(context.Background())
		check(t, s, "after open")
		for round := 1; round <= 3; round++ {
			write(round)
			rescanUntilRead(t, s)
			s.Precompress(context.Background())
			check(t, s, fmt.Sprintf("after rebuild %d", round))
		}
	})

	t.Run("file system given once", func(t *testing.T) {
		files := fstest.MapFS{}
		write := func(round int) {
			for i, name := range names {
				files[name] = &fstest.MapFile{Data: textLike(12_000, uint64(10*round+i)), ModTime: time.Unix(int64(1000+round), 0)}
			}
		}
		write(0)
		s, err := Open(files, Config{Codings: codings, MemoryBudget: limit})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.Precompress(context.Background())
		check(t, s, "after open")
		for round := 1; round <= 3; round++ {
			write(round)
			rescanUntilRead(t, s)
			s.Precompress(context.Background())
			check(t, s, fmt.Sprintf("after rebuild %d", round))
		}
	})
}

// Variants spilled to the cache directory leave it with the version they
// encode: after rebuilds it holds only what the current versions need.
func TestSpilledVariantsGoWithTheirVersion(t *testing.T) {
	defer func(d time.Duration) { spillGrace = d }(spillGrace)
	spillGrace = 0
	dir := t.TempDir()
	cache := t.TempDir()
	codings, _ := NewCodings("gzip", Fast)
	mustWrite(t, filepath.Join(dir, "app.js"), string(textLike(50_000, 0)))
	s, err := OpenDir(dir, Config{Codings: codings, MemoryBudget: 1000, CacheDir: cache, SettleAge: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Precompress(context.Background())
	for round := 1; round <= 3; round++ {
		mustWrite(t, filepath.Join(dir, "app.js"), string(textLike(50_000, uint64(round))))
		rescanUntilRead(t, s)
		s.Precompress(context.Background())
	}
	a, _ := s.Snapshot().Lookup("app.js")
	if len(a.Variants()) != 1 {
		t.Fatalf("app.js has %d variants, want its gzip", len(a.Variants()))
	}
	testkit.Eventually(t, 5*time.Second, "only the current variant in the cache directory", func() bool {
		entries, err := os.ReadDir(cache)
		return err == nil && len(entries) == 1
	})
}
