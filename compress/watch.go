package compress

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Timings of the watch loop. A build writes many files within
// milliseconds: one snapshot is published once the tree has been quiet for
// quietPeriod, or after maxDelay of continuous churn at the latest.
const (
	quietPeriod = 50 * time.Millisecond
	maxDelay    = 500 * time.Millisecond
)

// pollEvery is how often the root is rescanned when the OS cannot watch
// it (the inotify watch limit was reached). A variable for tests.
var pollEvery = 2 * time.Second

// Watch follows the root until ctx ends: after each burst of changes it
// rescans, publishes a new snapshot if anything changed, and encodes the
// files that are new or changed (including, at its start, any not encoded
// yet). It follows new and removed directories,
// and the root itself being replaced. If the OS runs out of watches it
// says so once and falls back to rescanning every pollEvery.
func (s *Store) Watch(ctx context.Context) error {
	if s.dir == "" {
		return errors.New("watch: only a directory can be watched")
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("cannot watch files; rescanning periodically instead", "every", pollEvery, "err", err)
		return s.poll(ctx)
	}
	defer w.Close()
	tree := &watchedTree{w: w, store: s, watched: map[string]os.FileInfo{}}
	tree.sync()

	var poll <-chan time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	// Catch what changed between Open and the first watch.
	if retry := s.rescanAndEncode(ctx); retry > 0 {
		timer.Reset(retry)
	}
	var firstChange time.Time
	for {
		if tree.blind && poll == nil {
			ticker := time.NewTicker(pollEvery)
			defer ticker.Stop()
			poll = ticker.C
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !tree.relevant(ev.Name) {
				continue
			}
			now := time.Now()
			if firstChange.IsZero() {
				firstChange = now
			}
			timer.Reset(min(quietPeriod, maxDelay-now.Sub(firstChange)))
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflowed event queue means changes were missed: rescan.
			s.log.Warn("file watch error; rescanning", "err", err)
			timer.Reset(0)
		case <-timer.C:
			firstChange = time.Time{}
			// Watch new directories before reading them: a file written
			// after the scan read it is then always an event. (Watching
			// after the scan missed writes made in between.)
			tree.sync()
			if retry := s.rescanAndEncode(ctx); retry > 0 {
				timer.Reset(retry)
			}
		case <-poll:
			tree.sync()
			s.rescanAndEncode(ctx)
		}
	}
}

// poll rescans every pollEvery, for systems where watching is impossible.
func (s *Store) poll(ctx context.Context) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.rescanAndEncode(ctx)
		}
	}
}

// rescanAndEncode publishes what changed and starts encoding it. It
// returns when to rescan for files still being written, or 0.
func (s *Store) rescanAndEncode(ctx context.Context) (retryIn time.Duration) {
	retryIn, err := s.Rescan()
	if err != nil {
		s.log.Warn("rescan failed; serving the previous snapshot", "err", err)
		return s.cfg.SettleAge
	}
	go s.Precompress(ctx)
	return retryIn
}

// watchLimitReached recognises the OS refusing more watches (inotify's
// max_user_watches, or too many instances), as opposed to a directory
// that vanished before it could be watched.
func watchLimitReached(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE)
}

// watchedTree keeps one watch per directory of the root, plus one on the
// root's parent, which is how a root replaced by rename is noticed.
type watchedTree struct {
	w       *fsnotify.Watcher
	store   *Store
	watched map[string]os.FileInfo
	blind   bool // the OS refused a watch: some changes go unseen
}

// relevant filters events: inside the root, only visible names count (an
// editor's swap file or Trunk's .stage directory is not the site); in the
// parent, only the root's own name.
func (t *watchedTree) relevant(name string) bool {
	if filepath.Dir(t.store.dir) == filepath.Dir(name) && filepath.Base(name) != filepath.Base(t.store.dir) {
		return false
	}
	return !hidden(filepath.Base(name)) || name == t.store.dir
}

// sync adds watches for directories that appeared (or were replaced by a
// directory of the same name) and drops those that went away. Each
// directory is watched before it is listed, the root's parent before the
// root: a directory that appears after its parent's watch is an event,
// and one that appeared before is in the listing, so none is left
// unwatched between a sync and the rescan after it.
func (t *watchedTree) sync() {
	seen := map[string]bool{}
	if parent := filepath.Dir(t.store.dir); parent != t.store.dir {
		if info, err := os.Stat(parent); err == nil {
			t.watch(parent, info, seen)
		}
	}
	_ = filepath.WalkDir(t.store.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != t.store.dir && hidden(d.Name()) {
			return filepath.SkipDir
		}
		// WalkDir lists a directory after this returns.
		if info, err := d.Info(); err == nil {
			t.watch(p, info, seen)
		}
		return nil
	})
	for p := range t.watched {
		if !seen[p] {
			_ = t.w.Remove(p)
			delete(t.watched, p)
		}
	}
}

// watch makes sure the directory p, as info describes it, is watched.
func (t *watchedTree) watch(p string, info os.FileInfo, seen map[string]bool) {
	seen[p] = true
	old, ok := t.watched[p]
	if ok && os.SameFile(old, info) {
		return
	}
	if ok {
		_ = t.w.Remove(p)
		delete(t.watched, p)
	}
	if err := t.w.Add(p); err != nil {
		if !t.blind && watchLimitReached(err) {
			t.store.log.Warn("the OS watch limit is reached; rescanning periodically instead",
				"every", pollEvery, "hint", "raise fs.inotify.max_user_watches", "err", err)
			t.blind = true
		}
		return
	}
	t.watched[p] = info
}
