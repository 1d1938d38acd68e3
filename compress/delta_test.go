package compress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// Trunk-style names of three builds of one wasm, and an unhashed file.
const (
	wasmV1 = "pkg/app-0000000000000001_bg.wasm"
	wasmV2 = "pkg/app-0000000000000002_bg.wasm"
	wasmV3 = "pkg/app-0000000000000003_bg.wasm"
)

func openDeltas(t *testing.T, dir string, deltas bool) *Store {
	t.Helper()
	codings, _ := NewCodings("gzip", Fast)
	s, err := OpenDir(dir, Config{Codings: codings, Deltas: deltas, SettleAge: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkDelta fails unless a has a dcz delta against dict that decodes to
// its bytes.
func checkDelta(t *testing.T, a *Asset, dict []byte) { checkDeltaIn(t, DeltaZstd, a, dict) }

func checkDeltaIn(t *testing.T, coding string, a *Asset, dict []byte) {
	t.Helper()
	sum := sha256.Sum256(dict)
	d := a.Delta(coding, &sum)
	if d == nil {
		t.Fatalf("%s: no delta against the version of %x", a.Path, sum[:4])
	}
	want := mustBytes(t, &a.Identity)
	got, err := DecodeDelta(coding, mustBytes(t, &d.Representation), dict, int64(len(want)))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: delta does not decode to the file: %v", a.Path, err)
	}
	if d.Coding != coding || d.Size != int64(len(mustBytes(t, &d.Representation))) {
		t.Errorf("%s: delta coding %q size %d", a.Path, d.Coding, d.Size)
	}
}

// A rebuild that replaces a hashed file by a new name of the same family
// makes the old bytes a dictionary: the new version gets a delta against
// each earlier version kept, the old versions and other files get none.
func TestRebuildMakesDeltas(t *testing.T) {
	v1 := textLike(60_000, 1)
	v2 := edited(v1, 2)
	v3 := edited(v2, 3)
	dir, _ := siteDir(t, map[string][]byte{wasmV1: v1, "index.html": textLike(3000, 9)})
	s := openDeltas(t, dir, true)
	s.Precompress(context.Background())

	rebuild := func(from, to string, data []byte) *Asset {
		t.Helper()
		if err := os.Remove(filepath.Join(dir, from)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), data, 0o644); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(dir, "index.html"), string(textLike(3000, uint64(len(data)))))
		time.Sleep(5 * time.Millisecond)
		rescanUntilRead(t, s)
		s.Precompress(context.Background())
		a, ok := s.Snapshot().Lookup(to)
		if !ok {
			t.Fatalf("%s not served", to)
		}
		return a
	}
	a2 := rebuild(wasmV1, wasmV2, v2)
	checkDelta(t, a2, v1)
	a3 := rebuild(wasmV2, wasmV3, v3)
	checkDelta(t, a3, v2)
	checkDelta(t, a3, v1)
	if n := len(a3.Deltas()); n != 2 {
		t.Errorf("%d deltas for the third build, want 2", n)
	}
	// The budget counts the kept versions and the deltas, nothing else.
	if used, held := s.MemoryUsed(), residentBytes(s.Snapshot())+dictionaryBytes(s); used != held {
		t.Errorf("memory used %d, held %d", used, held)
	}
	if held := dictionaryBytes(s); held != int64(len(v1)+len(v2)) {
		t.Errorf("kept versions hold %d bytes, want v1 and v2: %d", held, len(v1)+len(v2))
	}
	page, _ := s.Snapshot().Lookup("index.html")
	if n := len(page.Deltas()); n != 0 {
		t.Errorf("index.html, not a hashed name, has %d deltas", n)
	}
}

// Copied in beside the old build (cp -r build/* served/), the old version
// stays served; it becomes a dictionary but gets no delta itself.
func TestNewBuildBesideTheOld(t *testing.T) {
	v1 := textLike(60_000, 1)
	v2 := edited(v1, 2)
	dir, _ := siteDir(t, map[string][]byte{wasmV1: v1})
	s := openDeltas(t, dir, true)
	if err := os.WriteFile(filepath.Join(dir, wasmV2), v2, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	rescanUntilRead(t, s)
	s.Precompress(context.Background())
	a1, _ := s.Snapshot().Lookup(wasmV1)
	a2, _ := s.Snapshot().Lookup(wasmV2)
	checkDelta(t, a2, v1)
	if n := len(a1.Deltas()); n != 0 {
		t.Errorf("the old version got %d deltas", n)
	}
}

// Without Deltas (brisk --dev), a rebuild keeps nothing and encodes no
// delta.
func TestNoDeltasWhenOff(t *testing.T) {
	v1 := textLike(60_000, 1)
	dir, _ := siteDir(t, map[string][]byte{wasmV1: v1})
	s := openDeltas(t, dir, false)
	os.Remove(filepath.Join(dir, wasmV1))
	os.WriteFile(filepath.Join(dir, wasmV2), edited(v1, 2), 0o644)
	time.Sleep(5 * time.Millisecond)
	rescanUntilRead(t, s)
	s.Precompress(context.Background())
	a2, _ := s.Snapshot().Lookup(wasmV2)
	if n := len(a2.Deltas()); n != 0 {
		t.Errorf("%d deltas with Deltas off", n)
	}
	if used, resident := s.MemoryUsed(), residentBytes(s.Snapshot()); used != resident {
		t.Errorf("memory used %d, the current version holds %d: the old version was kept", used, resident)
	}
}

// `brisk precompress --previous`: deltas against an earlier build, dcz
// and dcb, become sidecars recorded in the manifest; a server trusts them from the
// manifest, without the earlier build; a second run rewrites nothing; a
// delta that does not pay is recorded as dropped and not tried again.
func TestPreviousBuildDeltaSidecars(t *testing.T) {
	v1 := textLike(60_000, 1)
	v2 := edited(v1, 2)
	noise1, noise2 := randomBytes(20_000, 1), randomBytes(20_000, 2)
	dir, root := siteDir(t, map[string][]byte{wasmV2: v2, "pkg/noise-0000000000000002.js": noise2, "index.html": textLike(3000, 3)})
	prevDir, _ := siteDir(t, map[string][]byte{
		wasmV1: v1, "pkg/noise-0000000000000001.js": noise1,
		"pkg/other-0000000000000001.js": textLike(5000, 4), // no such file now
		wasmV2:                          v2,                // the same version: no delta
	})
	codings, _ := NewCodings("gzip", Fast)
	open := func(previous ...string) *Store {
		cfg := Config{Codings: codings, WriteSidecars: root, BrotliDeltas: true}
		for _, p := range previous {
			cfg.Previous = append(cfg.Previous, os.DirFS(p))
		}
		s, err := Open(root.FS(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	open(prevDir).Precompress(context.Background())
	sum := sha256.Sum256(v1)
	sidecar := filepath.Join(dir, wasmV2+deltaID{DeltaZstd, sum}.suffix())
	if _, err := os.Stat(sidecar); err != nil {
		t.Fatalf("no delta sidecar: %v", err)
	}
	man, _ := os.ReadFile(filepath.Join(dir, ManifestName))
	if !strings.Contains(string(man), deltaID{DeltaZstd, sum}.key()) {
		t.Errorf("manifest does not record the delta:\n%s", man)
	}
	if !strings.Contains(string(man), "dropped") {
		t.Errorf("manifest does not record the noise delta as dropped:\n%s", man)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "pkg"))
	var deltas []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".dcz") || strings.HasSuffix(e.Name(), ".dcb") {
			deltas = append(deltas, e.Name())
		}
	}
	if want := []string{"app-0000000000000002_bg.wasm" + deltaID{DeltaBrotli, sum}.suffix(),
		"app-0000000000000002_bg.wasm" + deltaID{DeltaZstd, sum}.suffix()}; !slices.Equal(deltas, want) {
		t.Errorf("delta sidecars %v, want %v", deltas, want)
	}

	before := mtimes(t, dir)
	time.Sleep(10 * time.Millisecond)
	again := open(prevDir)
	if reports := again.Precompress(context.Background()); len(reports) != 0 {
		t.Errorf("second run redid %d files: %+v", len(reports), reports)
	}
	for name, m := range before {
		if !mtimes(t, dir)[name].Equal(m) {
			t.Errorf("%s rewritten by the second run", name)
		}
	}

	served := open() // a server: no previous build at hand
	a, _ := served.Snapshot().Lookup(wasmV2)
	checkDeltaIn(t, DeltaZstd, a, v1)
	checkDeltaIn(t, DeltaBrotli, a, v1)
	if _, ok := served.Snapshot().Lookup(wasmV2 + deltaID{DeltaZstd, sum}.suffix()); ok {
		t.Error("the delta sidecar is served as a file of its own")
	}

	// A delta sidecar damaged with its size and mtime intact fails the
	// manifest's digest when it is read: never sent as a delta.
	corruptKeepingStamp(t, sidecar)
	a, _ = open().Snapshot().Lookup(wasmV2)
	if d := a.Delta(DeltaZstd, &sum); d == nil {
		t.Fatal("no delta from the manifest")
	} else if _, err := d.Bytes(); err == nil {
		t.Error("a corrupted delta sidecar passed its digest check")
	}
}

// A delta sidecar found in place and checked is recorded, not written
// again, as plain sidecars are: a build that lost its manifest (or runs
// precompress over another tool's output) rewrites nothing that is right.
func TestDeltaSidecarFoundInPlaceIsNotRewritten(t *testing.T) {
	v1 := textLike(60_000, 1)
	dir, root := siteDir(t, map[string][]byte{wasmV2: edited(v1, 2)})
	prevDir, _ := siteDir(t, map[string][]byte{wasmV1: v1})
	codings, _ := NewCodings("gzip", Fast)
	run := func() []FileReport {
		s, err := Open(root.FS(), Config{Codings: codings, WriteSidecars: root, Previous: []fs.FS{os.DirFS(prevDir)}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.Precompress(context.Background())
	}
	run()
	if err := os.Remove(filepath.Join(dir, ManifestName)); err != nil {
		t.Fatal(err)
	}
	before := mtimes(t, dir)
	time.Sleep(20 * time.Millisecond)
	for _, r := range run() {
		for _, v := range r.Variants {
			if v.Source != "sidecar" {
				t.Errorf("%s %s: from %q, want the sidecar in place", r.Path, v.Coding, v.Source)
			}
		}
	}
	for name, m := range before {
		if name != "/"+ManifestName && !mtimes(t, dir)[name].Equal(m) {
			t.Errorf("%s rewritten", name)
		}
	}
	sum := sha256.Sum256(v1)
	if man, _ := os.ReadFile(filepath.Join(dir, ManifestName)); !strings.Contains(string(man), deltaID{DeltaZstd, sum}.key()) {
		t.Errorf("the manifest does not record the delta found in place:\n%s", man)
	}
}

// A store keeps at most keepVersions earlier versions of a file, and lets
// go of the memory of those it drops.
func TestKeptVersionsAreBounded(t *testing.T) {
	versions := [][]byte{textLike(30_000, 1)}
	for i := 1; i < 6; i++ {
		versions = append(versions, edited(versions[i-1], uint64(i+1)))
	}
	name := func(i int) string { return "pkg/app-" + strings.Repeat("0", 15) + string(rune('a'+i)) + "_bg.wasm" }
	dir, _ := siteDir(t, map[string][]byte{name(0): versions[0]})
	s := openDeltas(t, dir, true)
	for i := 1; i < len(versions); i++ {
		os.Remove(filepath.Join(dir, name(i-1)))
		os.WriteFile(filepath.Join(dir, name(i)), versions[i], 0o644)
		time.Sleep(5 * time.Millisecond)
		rescanUntilRead(t, s)
		s.Precompress(context.Background())
	}
	a, _ := s.Snapshot().Lookup(name(5))
	if n := len(a.Deltas()); n != keepVersions {
		t.Errorf("%d deltas for the sixth version, want one per kept version: %d", n, keepVersions)
	}
	for _, v := range versions[5-keepVersions : 5] {
		checkDelta(t, a, v)
	}
	if held, want := dictionaryBytes(s), int64(len(versions[2])+len(versions[3])+len(versions[4])); held != want {
		t.Errorf("kept versions hold %d bytes, want the last %d versions': %d", held, keepVersions, want)
	}
	if used, held := s.MemoryUsed(), residentBytes(s.Snapshot())+dictionaryBytes(s); used != held {
		t.Errorf("memory used %d, held %d: a dropped version was not released", used, held)
	}
}

// Deltas come after every plain coding of every file in a run, so that
// they never hold up what all clients can use.
func TestDeltasAfterPlainCodings(t *testing.T) {
	v1 := textLike(60_000, 1)
	_, root := siteDir(t, map[string][]byte{wasmV2: edited(v1, 2), "pkg/other.js": textLike(90_000, 5)})
	codings, _ := NewCodings("br,zstd,gzip", Fast)
	s, err := Open(root.FS(), Config{Codings: codings, BrotliDeltas: true,
		Previous: []fs.FS{fstest.MapFS{wasmV1: {Data: v1}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jobs := s.claimJobs(s.Snapshot())
	var order []string
	for _, j := range jobs {
		order = append(order, j.codingName())
	}
	want := []string{"gzip", "gzip", "zstd", "zstd", "br", "br", DeltaZstd, DeltaBrotli}
	if !slices.Equal(order, want) {
		t.Errorf("jobs in the order %v, want %v", order, want)
	}
}

// A file too large for a dcz window against its dictionary gets no dcz,
// and the manifest records it so that no later run tries again.
func TestDeltaOverWindowIsDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("8 MB of input")
	}
	v1 := textLike(4096, 1)
	big := textLike(int(DeltaWindowLimit(int64(len(v1))))+1, 2)
	dir, root := siteDir(t, map[string][]byte{wasmV2: big})
	codings, _ := NewCodings("gzip", Fast)
	open := func() *Store {
		s, err := Open(root.FS(), Config{Codings: codings, WriteSidecars: root,
			Previous: []fs.FS{fstest.MapFS{wasmV1: {Data: v1}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	open().Precompress(context.Background())
	a, _ := open().Snapshot().Lookup(wasmV2)
	if n := len(a.Deltas()); n != 0 {
		t.Errorf("%d deltas of a file over the window", n)
	}
	man, _ := os.ReadFile(filepath.Join(dir, ManifestName))
	sum := sha256.Sum256(v1)
	if !strings.Contains(string(man), deltaID{DeltaZstd, sum}.key()+" ") || !strings.Contains(string(man), "dropped") {
		t.Errorf("manifest does not record the dcz as dropped:\n%s", man)
	}
	if reports := open().Precompress(context.Background()); len(reports) != 0 {
		t.Errorf("a later run tried again: %+v", reports)
	}
}
