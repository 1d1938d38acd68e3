package compress

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMinSize is the smallest file worth compressing: below about 1 KiB
// the saving is a handful of bytes, less than the cost of a Vary-split cache.
const DefaultMinSize = 1024

// Config says how a Store encodes. The zero value encodes nothing.
type Config struct {
	Codings []*Coding
	// Workers bounds concurrent encodes; 0 means one per CPU.
	Workers int
	// MinSize is the smallest file to compress; 0 means DefaultMinSize.
	MinSize int64
	// Logger receives the precompression summary; nil discards it.
	Logger *slog.Logger
	// ProgressEvery is how often a long precompression reports progress;
	// 0 means every 5 seconds.
	ProgressEvery time.Duration
	// WriteSidecars, when set, is the same root opened for writing:
	// Precompress then stores each variant next to its file and records it
	// in the manifest, as `brisk precompress` does. Serving never writes.
	WriteSidecars *os.Root
	// Transform, when set, rewrites a file's bytes as they are read, before
	// hashing and encoding (dev mode injects its live-reload script this
	// way). Sidecars encode untransformed bytes, so with a Transform none
	// is trusted from the manifest: each is verified by decoding.
	Transform func(name string, data []byte) []byte
	// MemoryBudget bounds the bytes of files and variants kept in memory;
	// the rest stay on disk: files where they are, transformed files and
	// variants in CacheDir. 0 means DefaultMemoryBudget; negative means no
	// limit.
	MemoryBudget int64
	// CacheDir receives variants that do not fit the budget; "" means a
	// new temporary directory, removed by Close.
	CacheDir string
	// SettleAge is how long a file must have been left alone before a
	// rescan reads it, so that a file still being written is not
	// published half-done; 0 means 100 ms. A file that was truncated to
	// nothing is given emptySettleAge: it is most likely being rewritten.
	SettleAge time.Duration
	// Rewritten, if set, is called when a rescan publishes other bytes
	// under a path that was already served in this process.
	Rewritten func(path string)
	// Deltas, when set, keeps the versions of hashed files (see
	// HashedName) that a rescan replaces with a newer version, up to
	// keepVersions per file, and encodes the new version as a dcz delta
	// against each (DeltaZstd), after its other codings.
	Deltas bool
	// Previous are earlier builds of the site, such as the one deployed
	// now: their versions of the hashed files are dictionaries for the
	// current ones, as with Deltas.
	Previous []fs.FS
	// BrotliDeltas adds a dcb delta (DeltaBrotli, brotli 11) beside each
	// dcz delta. It takes seconds per MB and much memory (a whole process
	// encoding one peaked at 100 MB for a 1.8 MB wasm, 390 MB for an 11 MB
	// one), so it is for building an image (brisk precompress), not for a
	// server on a small machine.
	BrotliDeltas bool
}

// Store holds the current snapshot of one root.
type Store struct {
	cfg Config
	log *slog.Logger
	// A Store reads either a file system given once (the embedded site,
	// or a directory `brisk precompress` opened), or a directory by its
	// path, which it reopens when the directory is replaced.
	fixed fs.FS
	dir   string
	root  *os.Root // guarded by scanMu

	scanMu sync.Mutex // one scan at a time
	// history remembers, per path ever served, the tag of its last
	// version and whether it was rewritten; guarded by scanMu.
	history map[string]*pathHistory
	current atomic.Pointer[Snapshot]
	// sem bounds encodes across overlapping Precompress runs to Workers.
	sem chan struct{}
	// encoding counts the variants claimed by Precompress runs and not
	// yet done; saidDone is set once a run finished or found nothing.
	encoding   atomic.Int64
	saidDone   atomic.Bool
	manifestMu sync.Mutex // guards the snapshot's manifest while precompress records sidecars
	changedMu  sync.Mutex
	changed    chan struct{}
	budget     *budget
	spill      spillDir
	// bg bounds work the store starts by itself (re-encoding a variant
	// that failed its check); Close ends it.
	bg       context.Context
	stopBg   context.CancelFunc
	dicts    dictionaries
	counters []codingCounters // by index in cfg.Codings
}

type pathHistory struct {
	tag       string
	rewritten bool
}

// Open scans fsys and publishes a snapshot that serves every file
// uncompressed, plus every variant a valid manifest vouches for; call
// Precompress for the rest. Dotfiles, dot-directories and sidecar files
// (app.wasm.br beside app.wasm) are never part of a snapshot.
func Open(fsys fs.FS, cfg Config) (*Store, error) {
	s := newStore(cfg)
	s.fixed = fsys
	return s, s.initialScan()
}

// OpenDir is Open for a directory on disk. It is read through os.Root, so
// that no path, symlinks included, leads outside it, and Rescan and Watch
// follow the directory even when a build tool replaces it whole.
func OpenDir(dir string, cfg Config) (*Store, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	s := newStore(cfg)
	s.dir, s.root = dir, root
	return s, s.initialScan()
}

func newStore(cfg Config) *Store {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MinSize <= 0 {
		cfg.MinSize = DefaultMinSize
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 5 * time.Second
	}
	if cfg.SettleAge <= 0 {
		cfg.SettleAge = 100 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bg, stopBg := context.WithCancel(context.Background())
	return &Store{
		cfg: cfg, log: log, history: map[string]*pathHistory{}, bg: bg, stopBg: stopBg,
		sem: make(chan struct{}, cfg.Workers), changed: make(chan struct{}),
		budget: newBudget(cfg.MemoryBudget), spill: spillDir{dir: cfg.CacheDir},
		counters: make([]codingCounters, len(cfg.Codings)),
	}
}

// Close removes the temporary directory of variants that did not fit the
// memory budget, if the store made one.
func (s *Store) Close() error {
	s.stopBg()
	return s.spill.close()
}

// repair takes a sidecar whose bytes failed their check out of service
// for good and has its coding made again, from the file.
func (s *Store) repair(a *Asset, bit uint32, tag string) {
	a.badSidecar.Or(bit)
	a.dropVariant(tag)
	s.log.Warn("a sidecar failed its check and is no longer served; encoding afresh", "path", a.Path, "tag", tag)
	go s.Precompress(s.bg)
}

// MemoryUsed reports the bytes of files and variants held in memory, and
// of their sealed copies.
func (s *Store) MemoryUsed() int64 { return s.budget.used.Load() }

func (s *Store) initialScan() error {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	snap, _, err := s.scan(nil)
	if err != nil {
		return err
	}
	s.publish(snap)
	if len(s.cfg.Previous) > 0 {
		if err := s.loadPrevious(snap); err != nil {
			return fmt.Errorf("read previous versions: %w", err)
		}
	}
	return nil
}

// Snapshot returns the snapshot to serve now.
func (s *Store) Snapshot() *Snapshot { return s.current.Load() }

// Changed returns a channel that is closed when a snapshot newer than the
// current one is published.
func (s *Store) Changed() <-chan struct{} {
	s.changedMu.Lock()
	defer s.changedMu.Unlock()
	return s.changed
}

// publish makes next the snapshot to serve, retires the versions it
// replaced or dropped (stopping their encodes, releasing their memory),
// notes rewritten paths and wakes Changed waiters. The caller holds scanMu.
func (s *Store) publish(next *Snapshot) {
	prev := s.current.Load()
	next.generation = 1
	if prev != nil {
		next.generation = prev.generation + 1
	}
	s.current.Store(next)
	s.keepReplaced(prev, next)
	if prev != nil {
		for name, a := range prev.assets {
			if next.assets[name] != a {
				a.retire()
			}
		}
	}
	for name, a := range next.assets {
		if prev != nil && prev.assets[name] == a {
			continue
		}
		h := s.history[name]
		if h == nil {
			s.history[name] = &pathHistory{tag: a.Identity.Tag}
			continue
		}
		if h.tag != a.Identity.Tag {
			h.tag, h.rewritten = a.Identity.Tag, true
			if s.cfg.Rewritten != nil {
				s.cfg.Rewritten(name)
			}
		}
	}
	s.changedMu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.changedMu.Unlock()
}

// Rescan reads the root again and publishes a new snapshot if anything
// changed. Files whose size and modification time did not change keep
// their asset, variants and ETags; so do files rewritten with the same
// bytes. When some file was still being written, its previous version
// stays and retryIn says when to rescan: once the youngest such file is
// SettleAge old. retryIn is 0 when every file was read.
func (s *Store) Rescan() (retryIn time.Duration, err error) {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	prev := s.Snapshot()
	next, retryIn, err := s.scan(prev)
	if err != nil {
		return 0, err
	}
	if !sameAssets(prev, next) {
		s.publish(next)
	}
	return retryIn, nil
}

// fsys returns the file system to scan, reopening a directory that was
// replaced (Trunk swaps a staging directory into dist/).
func (s *Store) fsys() fs.FS {
	if s.root == nil {
		return s.fixed
	}
	onDisk, err1 := os.Stat(s.dir)
	open, err2 := s.root.Stat(".")
	if err1 == nil && (err2 != nil || !os.SameFile(onDisk, open)) {
		if root, err := os.OpenRoot(s.dir); err == nil {
			s.log.Info("root directory was replaced; following it", "root", s.dir)
			s.root.Close()
			s.root = root
		}
	}
	return s.root.FS()
}
