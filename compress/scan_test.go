package compress

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// countingFS counts how often each file is opened for reading.
type countingFS struct {
	fstest.MapFS
	mu    sync.Mutex
	opens map[string]int
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.mu.Lock()
	c.opens[name]++
	c.mu.Unlock()
	return c.MapFS.Open(name)
}

// A file rewritten with the same bytes keeps its version, and its new
// stamp: later rescans do not read and hash it again.
func TestSameBytesRewrittenIsReadOnce(t *testing.T) {
	files := &countingFS{MapFS: fstest.MapFS{"app.js": {Data: textLike(5000, 1), ModTime: time.Unix(1000, 0)}}, opens: map[string]int{}}
	s, err := Open(files, Config{})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.Snapshot().Lookup("app.js")
	files.MapFS["app.js"] = &fstest.MapFile{Data: textLike(5000, 1), ModTime: time.Unix(2000, 0)}
	for range 3 {
		if _, err := s.Rescan(); err != nil {
			t.Fatal(err)
		}
	}
	if after, _ := s.Snapshot().Lookup("app.js"); after != before {
		t.Error("the same bytes became a new version")
	}
	if n := files.opens["app.js"]; n != 2 {
		t.Errorf("app.js read %d times, want 2 (at open, and once after the rewrite)", n)
	}
}

// Which files are sidecars does not depend on map order: in a chain
// a.js, a.js.br, a.js.br.gz only a.js is served.
func TestSidecarChainsAreDeterministic(t *testing.T) {
	files := fstest.MapFS{
		"a.js":       {Data: textLike(3000, 1)},
		"a.js.br":    {Data: []byte("not really brotli")},
		"a.js.br.gz": {Data: []byte("not really gzip")},
		"b.txt.gz":   {Data: []byte("no b.txt: served under its own name")},
	}
	for range 50 {
		s, err := Open(files, Config{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for name := range s.Snapshot().assets {
			names = append(names, name)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"a.js", "b.txt.gz"}) {
			t.Fatalf("served %q, want [a.js b.txt.gz]", names)
		}
	}
}

// A path that gets other bytes while brisk runs is reported and marked,
// even when the file was deleted in between; the same bytes again are not
// a rewrite.
func TestRewrittenPathsAreMarked(t *testing.T) {
	dir := t.TempDir()
	const name = "app-0123456789abcdef.js"
	p := filepath.Join(dir, name)
	mustWrite(t, p, "v1")
	mustWrite(t, filepath.Join(dir, "other.js"), "same")
	var reported []string
	s, err := OpenDir(dir, Config{SettleAge: time.Millisecond, Rewritten: func(path string) { reported = append(reported, path) }})
	if err != nil {
		t.Fatal(err)
	}
	rewritten := func(name string) bool {
		a, ok := s.Snapshot().Lookup(name)
		return ok && a.Rewritten
	}
	if rewritten(name) {
		t.Fatal("a file seen for the first time is marked rewritten")
	}
	mustWrite(t, filepath.Join(dir, "other.js"), "same")
	mustWrite(t, p, "v2")
	rescanUntilRead(t, s)
	if !rewritten(name) || rewritten("other.js") {
		t.Errorf("after v2: %s rewritten %v (want true), other.js %v (want false)", name, rewritten(name), rewritten("other.js"))
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	rescanUntilRead(t, s)
	mustWrite(t, p, "v3")
	rescanUntilRead(t, s)
	if !rewritten(name) {
		t.Error("deleted and recreated with other bytes: not marked")
	}
	if !slices.Equal(reported, []string{name, name}) {
		t.Errorf("reported %q, want %s twice", reported, name)
	}
}
