package compress

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"
)

func openMap(t *testing.T, files fstest.MapFS, codings string) *Store {
	t.Helper()
	cs, err := NewCodings(codings, Fast)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(files, Config{Codings: cs})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScanSkipsHiddenAndClassifies(t *testing.T) {
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	files := fstest.MapFS{
		"index.html":            {Data: textLike(3000, 1), ModTime: mod},
		"pkg/app_bg.wasm":       {Data: textLike(5000, 2)},
		"pkg/app.js":            {Data: textLike(4000, 3)},
		"pkg/tiny.css":          {Data: []byte("body{}")},
		"img/logo.png":          {Data: randomBytes(4000, 4)},
		"data.unknownext":       {Data: textLike(4000, 5)},
		".env":                  {Data: []byte("SECRET=1")},
		".git/config":           {Data: []byte("[core]")},
		"pkg/.hidden.js":        {Data: textLike(4000, 6)},
		"pkg/snippets/x/.cache": {Data: []byte("x")},
	}
	snap := openMap(t, files, "gzip").Snapshot()
	want := map[string]struct {
		mediaType    string
		compressible bool
	}{
		"index.html":      {"text/html; charset=utf-8", true},
		"pkg/app_bg.wasm": {"application/wasm", true},
		"pkg/app.js":      {"text/javascript; charset=utf-8", true},
		"pkg/tiny.css":    {"text/css; charset=utf-8", false}, // below MinSize
		"img/logo.png":    {"image/png", false},
		"data.unknownext": {"application/octet-stream", false},
	}
	if snap.Len() != len(want) {
		t.Errorf("snapshot has %d files, want %d", snap.Len(), len(want))
	}
	for name, w := range want {
		a, ok := snap.Lookup(name)
		if !ok {
			t.Errorf("%s missing from snapshot", name)
			continue
		}
		if a.MediaType != w.mediaType || a.Compressible != w.compressible {
			t.Errorf("%s: got (%q, compressible %v), want (%q, %v)", name, a.MediaType, a.Compressible, w.mediaType, w.compressible)
		}
		if !bytes.Equal(mustBytes(t, &a.Identity), files[name].Data) {
			t.Errorf("%s: identity bytes differ from the file", name)
		}
	}
	for _, hiddenName := range []string{".env", ".git/config", "pkg/.hidden.js", "pkg/snippets/x/.cache"} {
		if _, ok := snap.Lookup(hiddenName); ok {
			t.Errorf("hidden file %s is in the snapshot", hiddenName)
		}
	}
	if a, _ := snap.Lookup("index.html"); !a.ModTime.Equal(mod) {
		t.Errorf("index.html ModTime = %v, want %v", a.ModTime, mod)
	}
}

func TestPrecompressAttachesSmallerVariantsOnly(t *testing.T) {
	files := fstest.MapFS{
		"app.js":    {Data: textLike(50_000, 1)},
		"noise.js":  {Data: randomBytes(50_000, 2)}, // no coding makes this smaller
		"small.css": {Data: []byte("a{}")},
	}
	s := openMap(t, files, "br,zstd,gzip")
	app, _ := s.Snapshot().Lookup("app.js")
	if len(app.Variants()) != 0 {
		t.Fatal("variants exist before Precompress")
	}
	reports := s.Precompress(context.Background())
	if len(reports) != 2 {
		t.Fatalf("got %d file reports, want 2 (small.css is below MinSize)", len(reports))
	}

	vs := app.Variants()
	if len(vs) != 3 {
		t.Fatalf("app.js has %d variants, want 3", len(vs))
	}
	codings, _ := NewCodings("br,zstd,gzip", Fast)
	byName := map[string]*Coding{}
	for _, c := range codings {
		byName[c.Name] = c
	}
	seen := map[string]bool{app.Identity.Tag: true}
	for i, v := range vs {
		if i > 0 && v.Size < vs[i-1].Size {
			t.Errorf("variants not sorted by size: %s before %s", vs[i-1].Coding, v.Coding)
		}
		if v.Size >= app.Identity.Size {
			t.Errorf("%s variant is not smaller than the source", v.Coding)
		}
		out, err := byName[v.Coding].Decode(mustBytes(t, &v), app.Identity.Size)
		if err != nil || !bytes.Equal(out, mustBytes(t, &app.Identity)) {
			t.Errorf("%s variant does not decode to the source: %v", v.Coding, err)
		}
		if seen[v.Tag] {
			t.Errorf("%s variant shares a digest with another representation", v.Coding)
		}
		seen[v.Tag] = true
	}
	noise, _ := s.Snapshot().Lookup("noise.js")
	if n := len(noise.Variants()); n != 0 {
		t.Errorf("noise.js has %d variants; none is smaller than random data", n)
	}
}

// Tags come from content alone, so two stores over the same bytes (a
// restart, another machine) agree, and any change of content changes them.
func TestTagsStableAcrossStores(t *testing.T) {
	files := fstest.MapFS{"app.js": {Data: textLike(20_000, 1)}}
	a1, _ := openMap(t, files, "gzip").Snapshot().Lookup("app.js")
	a2, _ := openMap(t, files, "gzip").Snapshot().Lookup("app.js")
	if a1.Identity.Tag != a2.Identity.Tag {
		t.Error("same content, different digests")
	}
	changed := fstest.MapFS{"app.js": {Data: append(textLike(20_000, 1)[:19_999], '!')}}
	a3, _ := openMap(t, changed, "gzip").Snapshot().Lookup("app.js")
	if a1.Identity.Tag == a3.Identity.Tag {
		t.Error("one byte changed, digest did not")
	}
}

func TestPrecompressStopsOnCancel(t *testing.T) {
	files := fstest.MapFS{}
	for i := range 20 {
		files[filepath.Join("f", string(rune('a'+i))+".js")] = &fstest.MapFile{Data: textLike(20_000, uint64(i))}
	}
	s := openMap(t, files, "br,zstd,gzip")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	reports := s.Precompress(ctx)
	done := 0
	for _, r := range reports {
		done += len(r.Variants)
	}
	if done != 0 {
		t.Errorf("%d encodes ran after cancellation, want none", done)
	}
}

// A directory on disk is opened through os.Root: a symlink inside the root
// is followed, one that leads outside is not.
func TestScanSymlinksStayInsideRoot(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "index.html"), "<h1>hi</h1>")
	mustSymlink(t, secret, filepath.Join(dir, "leak.txt"))
	mustSymlink(t, outside, filepath.Join(dir, "leakdir"))
	mustSymlink(t, "index.html", filepath.Join(dir, "alias.html"))

	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	s, err := Open(root.FS(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	for _, name := range []string{"leak.txt", "leakdir/secret.txt"} {
		if _, ok := snap.Lookup(name); ok {
			t.Errorf("%s, outside the root, is in the snapshot", name)
		}
	}
	if a, ok := snap.Lookup("alias.html"); !ok || string(mustBytes(t, &a.Identity)) != "<h1>hi</h1>" {
		t.Error("a symlink to a file inside the root should be served")
	}
}

func TestOpenMissingRoot(t *testing.T) {
	if _, err := Open(os.DirFS(filepath.Join(t.TempDir(), "nope")), Config{}); err == nil {
		t.Fatal("Open of a missing directory succeeded")
	}
}

func mustWrite(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mustBytes(t *testing.T, r *Representation) []byte {
	t.Helper()
	b, err := r.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Stats follows the work: every variant pending at first, none once
// precompressed, encode time counted per coding, and a new generation
// for each snapshot a rescan publishes.
func TestStats(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "app.js"), string(textLike(20_000, 1)))
	mustWrite(t, filepath.Join(dir, "index.html"), string(textLike(3_000, 2)))
	mustWrite(t, filepath.Join(dir, "tiny.css"), "body{}")
	codings, _ := NewCodings("gzip,zstd", Fast)
	s, err := OpenDir(dir, Config{Codings: codings, SettleAge: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Stats()
	if st.Generation != 1 || st.Files != 3 || len(st.Codings) != 2 {
		t.Fatalf("before precompressing: %+v", st)
	}
	for _, c := range st.Codings {
		if c.Pending != 2 || c.Encoded != 0 {
			t.Errorf("%s before precompressing: %+v, want 2 pending (tiny.css is too small)", c.Name, c)
		}
	}
	s.Precompress(context.Background())
	for _, c := range s.Stats().Codings {
		if c.Pending != 0 || c.Encoded != 2 || c.EncodeTime <= 0 {
			t.Errorf("%s after precompressing: %+v, want 0 pending, 2 encoded, some time", c.Name, c)
		}
	}
	mustWrite(t, filepath.Join(dir, "app.js"), string(textLike(20_000, 3)))
	rescanUntilRead(t, s)
	st = s.Stats()
	if st.Generation != 2 {
		t.Errorf("generation %d after one rebuild, want 2", st.Generation)
	}
	for _, c := range st.Codings {
		if c.Pending != 1 {
			t.Errorf("%s after app.js changed: %d pending, want 1", c.Name, c.Pending)
		}
	}
}
