package compress

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brisk-server/brisk/internal/testkit"
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

// A scan reads a small file into memory at once; a large one it only
// hashes, and serves from disk until its first use has been followed by
// a check that moves it into memory.
func TestLargeFilesMoveIntoMemoryAfterFirstUse(t *testing.T) {
	defer func(d time.Duration) { checkDelay = d }(checkDelay)
	checkDelay = 200 * time.Millisecond // from the first use on
	small, large := textLike(residentAtScan, 1), textLike(residentAtScan+1, 2)
	_, root := siteDir(t, map[string][]byte{"small.js": small, "large.wasm": large})
	s, err := OpenDir(root.Name(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	resident := func(name string) bool {
		a, _ := s.Snapshot().Lookup(name)
		return a.Identity.content.mem.Load() != nil
	}
	if !resident("small.js") || resident("large.wasm") {
		t.Fatalf("after the scan: small.js resident %v (want true), large.wasm %v (want false)", resident("small.js"), resident("large.wasm"))
	}
	a, _ := s.Snapshot().Lookup("large.wasm")
	_, f, err := a.Identity.Body()
	if err != nil || f == nil {
		t.Fatalf("large.wasm not served from disk: %v", err)
	}
	f.Close()
	testkit.Eventually(t, 5*time.Second, "large.wasm in memory", func() bool { return resident("large.wasm") })
	if got := mustBytes(t, &a.Identity); !bytes.Equal(got, large) {
		t.Error("large.wasm's bytes changed on their way into memory")
	}
	if used := s.MemoryUsed(); used != int64(len(small)+len(large)) {
		t.Errorf("%d bytes counted, %d in memory", used, len(small)+len(large))
	}
}
