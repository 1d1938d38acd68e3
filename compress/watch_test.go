package compress

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-server/brisk/internal/testkit"
)

// changeSeen bounds how long a change in the tree takes to be served. A
// file rewritten through truncation (os.WriteFile) may be seen empty and
// then wait emptySettleAge before it is read again, and -race on a busy
// machine slows the rest: 2 s was once not enough in CI.
const changeSeen = emptySettleAge + 4*time.Second

func watchDir(t *testing.T, dir string) *Store {
	t.Helper()
	codings, _ := NewCodings("gzip", Fast)
	s, err := OpenDir(dir, Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

func identityOf(s *Store, name string) (string, bool) {
	a, ok := s.Snapshot().Lookup(name)
	if !ok {
		return "", false
	}
	b, err := a.Identity.Bytes()
	return string(b), err == nil
}

func TestWatchFollowsTheTree(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", "v1")
	write("keep.js", string(textLike(5000, 1)))
	s := watchDir(t, dir)
	keep, _ := s.Snapshot().Lookup("keep.js")
	testkit.Eventually(t, 5*time.Second, "keep.js encoded", func() bool { return len(keep.Variants()) == 1 })

	write("index.html", "v2")
	testkit.Eventually(t, changeSeen, "index.html rewritten", func() bool { c, _ := identityOf(s, "index.html"); return c == "v2" })
	write("new/deep/file.txt", "hello")
	testkit.Eventually(t, changeSeen, "file in new directories", func() bool { c, _ := identityOf(s, "new/deep/file.txt"); return c == "hello" })
	write("new/deep/file.txt", "again") // the new directory is watched too
	testkit.Eventually(t, changeSeen, "file rewritten in a new directory", func() bool { c, _ := identityOf(s, "new/deep/file.txt"); return c == "again" })
	if err := os.RemoveAll(filepath.Join(dir, "new")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, changeSeen, "removed directory gone", func() bool { _, ok := identityOf(s, "new/deep/file.txt"); return !ok })
	write(".hidden.swp", "editor junk")
	write("keep.js", string(textLike(5000, 1))) // same bytes, new mtime
	// A visible file written last: once it is served, a rescan has seen
	// the two writes before it.
	write("marker.txt", "m")
	testkit.Eventually(t, changeSeen, "marker served", func() bool { _, ok := identityOf(s, "marker.txt"); return ok })
	if _, ok := s.Snapshot().Lookup(".hidden.swp"); ok {
		t.Error("a dotfile appeared in the snapshot")
	}
	if a, _ := s.Snapshot().Lookup("keep.js"); a != keep {
		t.Error("keep.js rewritten with the same bytes became a new version (its variants and ETags are lost)")
	}
}

// Trunk and scripts replace the whole directory (mv dist dist.old; mv
// dist.new dist): the store must follow the path, not the old directory.
func TestWatchFollowsReplacedRoot(t *testing.T) {
	base := t.TempDir()
	dist := filepath.Join(base, "dist")
	for _, d := range []string{dist, dist + ".new"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dist, "index.html"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := watchDir(t, dist)
	if err := os.WriteFile(filepath.Join(dist+".new", "index.html"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dist, dist+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dist+".new", dist); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, changeSeen, "the new directory is served", func() bool { c, _ := identityOf(s, "index.html"); return c == "new" })
	// And it is watched: a change inside the new directory shows up.
	if err := os.WriteFile(filepath.Join(dist, "index.html"), []byte("newer"), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, changeSeen, "a change inside the replaced root", func() bool { c, _ := identityOf(s, "index.html"); return c == "newer" })
}

// A rebuilt file's encodes start over; the superseded version's encode
// stops instead of running to the end.
func TestSupersededEncodeIsCancelled(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "app.wasm")
	if err := os.WriteFile(big, textLike(4<<20, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	codings, _ := NewCodings("br", Best)
	s, err := OpenDir(dir, Config{Codings: codings})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := s.Snapshot().Lookup("app.wasm")
	reports := make(chan []FileReport, 1)
	go func() { reports <- s.Precompress(context.Background()) }()
	time.Sleep(100 * time.Millisecond) // brotli 11 of 4 MB takes seconds
	if err := os.WriteFile(big, textLike(4<<20, 2), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(s.cfg.SettleAge + 10*time.Millisecond)
	if _, err := s.Rescan(); err != nil {
		t.Fatal(err)
	}
	r := <-reports
	if len(r) != 1 || !errors.Is(r[0].Variants[0].Err, context.Canceled) {
		t.Fatalf("superseded encode was not cancelled: %+v", r)
	}
	if len(old.Variants()) != 0 {
		t.Error("the superseded version got a variant")
	}
}

// When the OS refuses more watches, brisk falls back to rescanning on a
// timer: changes still show up, later.
func TestWatchLimitFallsBackToPolling(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("add /x: %w", syscall.ENOSPC), true},
		{fmt.Errorf("add /x: %w", syscall.EMFILE), true},
		{fmt.Errorf("add /x: %w", syscall.ENOENT), false},
	} {
		if got := watchLimitReached(tt.err); got != tt.want {
			t.Errorf("watchLimitReached(%v) = %v", tt.err, got)
		}
	}

	defer func(d time.Duration) { pollEvery = d }(pollEvery)
	pollEvery = 20 * time.Millisecond
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenDir(dir, Config{SettleAge: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.poll(ctx) }()
	defer func() { cancel(); <-done }()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "a change seen by polling", func() bool { c, _ := identityOf(s, "a.txt"); return c == "two" })
}
