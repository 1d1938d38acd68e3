package compress

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
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
	dir := s.spillDir
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cache directory %s left behind", dir)
	}
}
