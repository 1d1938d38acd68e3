package compress

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
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
	// the rest stay on disk: files in the root, variants in CacheDir.
	// 0 means DefaultMemoryBudget; negative means no limit.
	MemoryBudget int64
	// CacheDir receives variants that do not fit the budget; "" means a
	// new temporary directory, removed by Close.
	CacheDir string
	// SettleAge is how long a file must have been left alone before a
	// rescan reads it, so that a file still being written is not
	// published half-done; 0 means 100 ms. A file that was truncated to
	// nothing is given emptySettleAge: it is most likely being rewritten.
	SettleAge time.Duration
}

// Store holds the current snapshot of one root.
type Store struct {
	cfg Config
	log *slog.Logger
	// A Store reads either a fixed file system (the embedded site) or a
	// directory, which it reopens when the directory is replaced.
	fixed fs.FS
	dir   string
	root  *os.Root // guarded by scanMu

	scanMu  sync.Mutex // one scan at a time
	current atomic.Pointer[Snapshot]
	// sem bounds encodes across overlapping Precompress runs to Workers.
	sem        chan struct{}
	manifestMu sync.Mutex // guards the snapshot's manifest while precompress records sidecars
	changedMu  sync.Mutex
	changed    chan struct{}
	budget     *budget
	spillMu    sync.Mutex
	spillDir   string // where variants over budget go; created on first use
	ownedSpill bool   // spillDir is a temporary directory of ours
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
	s := &Store{cfg: cfg, log: log, sem: make(chan struct{}, cfg.Workers), changed: make(chan struct{}), spillDir: cfg.CacheDir}
	switch {
	case cfg.MemoryBudget == 0:
		s.budget = &budget{limit: DefaultMemoryBudget}
	case cfg.MemoryBudget > 0:
		s.budget = &budget{limit: cfg.MemoryBudget}
	}
	return s
}

// Close removes the temporary directory of variants that did not fit the
// memory budget, if the store made one.
func (s *Store) Close() error {
	s.spillMu.Lock()
	defer s.spillMu.Unlock()
	if s.ownedSpill {
		s.ownedSpill = false
		return os.RemoveAll(s.spillDir)
	}
	return nil
}

// MemoryUsed reports the bytes of files and variants held in memory.
func (s *Store) MemoryUsed() int64 {
	if s.budget == nil {
		return 0
	}
	return s.budget.used.Load()
}

// spill writes a variant that does not fit the budget to the cache
// directory and returns it as a representation read from there.
func (s *Store) spill(coding string, data []byte) (Representation, error) {
	s.spillMu.Lock()
	if s.spillDir == "" {
		dir, err := os.MkdirTemp("", "brisk-cache-")
		if err != nil {
			s.spillMu.Unlock()
			return Representation{}, err
		}
		s.spillDir, s.ownedSpill = dir, true
		s.log.Info("memory budget reached; keeping further variants on disk", "dir", dir, "budget", s.budget.limit)
	}
	dir := s.spillDir
	s.spillMu.Unlock()
	digest := tag(data, coding)
	name := digest // content-addressed: the same bytes are the same file
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p+".tmp", data, 0o600); err != nil {
		return Representation{}, err
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return Representation{}, err
	}
	info, err := os.Stat(p)
	if err != nil {
		return Representation{}, err
	}
	return verifiedOnDisk(os.DirFS(dir), name, coding, digest, stampOf(info, "")), nil
}

func (s *Store) initialScan() error {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	snap, _, err := s.scan(nil)
	if err != nil {
		return err
	}
	s.publish(snap)
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
// replaced or dropped (stopping their encodes) and wakes Changed waiters.
func (s *Store) publish(next *Snapshot) {
	if prev := s.current.Swap(next); prev != nil {
		for name, a := range prev.assets {
			if next.assets[name] != a {
				a.retire()
				s.budget.give(a.residentSize())
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
// SettleAge old. retryIn is 0 when everything settled.
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

func sameAssets(a, b *Snapshot) bool {
	if len(a.assets) != len(b.assets) {
		return false
	}
	for name, x := range a.assets {
		if b.assets[name] != x {
			return false
		}
	}
	return true
}

// hidden reports whether a path element must never be served: dotfiles
// hold secrets (.env) and repository data (.git).
func hidden(name string) bool { return strings.HasPrefix(name, ".") }

// sidecarSuffixes are the names other tools (cargo-leptos --precompress,
// nginx, Caddy, tower-http) and brisk give precompressed files.
var sidecarSuffixes = map[string]string{".br": "br", ".zst": "zstd", ".gz": "gzip"}

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

// scan builds a snapshot of the root. With prev (a rescan) it reuses every
// asset whose file did not change, and leaves alone files that were
// modified within SettleAge or changed while being read.
func (s *Store) scan(prev *Snapshot) (snap *Snapshot, retryIn time.Duration, err error) {
	fsys := s.fsys()
	man, err := readManifest(fsys)
	if err != nil {
		s.log.Warn("ignoring manifest; sidecars will be verified by decoding", "err", err)
	}
	if s.cfg.Transform != nil {
		man = newManifest()
	}

	files := map[string]fs.FileInfo{}
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name == "." {
				return fmt.Errorf("scan root: %w", err)
			}
			s.log.Warn("skipping unreadable path", "path", name, "err", err)
			return nil
		}
		if name != "." && hidden(d.Name()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := fs.Stat(fsys, name) // follows a symlink, within the root only
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// deleted while we walked
		case err != nil:
			s.log.Warn("skipping file", "path", name, "err", err)
		case info.Mode().IsRegular():
			files[name] = info
		case !info.IsDir():
			s.log.Debug("skipping non-regular file", "path", name, "mode", info.Mode().String())
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}

	sidecars := map[string]map[string]fs.FileInfo{}
	for name, info := range files {
		for suffix, coding := range sidecarSuffixes {
			src, ok := strings.CutSuffix(name, suffix)
			if _, isSidecar := files[src]; ok && isSidecar {
				if sidecars[src] == nil {
					sidecars[src] = map[string]fs.FileInfo{}
				}
				sidecars[src][coding] = info
				delete(files, name)
			}
		}
	}

	snap = &Snapshot{assets: make(map[string]*Asset, len(files)), fsys: fsys, manifest: man, sidecars: sidecars}
	// Smallest first: the memory budget goes to the many small files,
	// and the large ones, which sendfile serves well, stay on disk.
	names := slices.SortedFunc(maps.Keys(files), func(x, y string) int {
		return cmp.Or(cmp.Compare(files[x].Size(), files[y].Size()), strings.Compare(x, y))
	})
	for _, name := range names {
		info := files[name]
		var old *Asset
		if prev != nil {
			old = prev.assets[name]
		}
		if old != nil && old.stamp.matches(info) {
			snap.assets[name] = old
			continue
		}
		emptied := old != nil && info.Size() == 0 && old.Identity.Size > 0
		a, wait, err := s.readAsset(snap, name, info, prev != nil, emptied)
		switch {
		case err != nil:
			s.log.Warn("skipping file", "path", name, "err", err)
			continue
		case wait > 0:
			if retryIn == 0 || wait < retryIn {
				retryIn = wait
			}
			a = old // keep serving the previous version, if any
		case old != nil && old.Identity.Digest == a.Identity.Digest:
			a = old // rewritten with the same bytes: keep variants and ETags
		}
		if a != nil {
			snap.assets[name] = a
		}
	}
	return snap, retryIn, nil
}

// writeState is what the OS says about writers of a file.
type writeState int

const (
	writeUnknown writeState = iota // the OS cannot tell
	notWritten                     // no process has it open for writing
	beingWritten
)

// emptySettleAge is how long a file that went from some bytes to none must
// stay empty before it is published: truncate-and-write leaves a file
// empty until the first write, and a busy machine can stall a writer.
const emptySettleAge = time.Second

// readAsset describes one file. When the manifest vouches for it, nothing
// is read now; otherwise the file is read and hashed. With checkSettled (a
// rescan), a file some process has open for writing, or that changes while
// it is read, or (where the OS cannot tell about writers) was modified
// within SettleAge, or was emptied less than emptySettleAge ago, is
// reported unsettled: wait says how long until it may have settled.
func (s *Store) readAsset(snap *Snapshot, name string, info fs.FileInfo, checkSettled, emptied bool) (a *Asset, wait time.Duration, err error) {
	age, settleAge := time.Since(info.ModTime()), s.cfg.SettleAge
	if checkSettled && emptied && age < emptySettleAge {
		return nil, emptySettleAge - age, nil // most likely being rewritten
	}
	a = newAsset(name, info.ModTime())
	a.stamp = stampOf(info, "")
	if age < settleAge {
		// Modification times are coarse (a clock tick): a rewrite of the
		// same size soon after could carry the same stamp. Do not vouch
		// for this read; the next rescan reads the file again.
		a.stamp = fileStamp{Size: -1}
	}
	a.Compressible = a.Compressible && info.Size() >= s.cfg.MinSize
	if e := snap.manifest.Files[name]; e != nil && e.matches(info) {
		a.Identity = onDisk(snap.fsys, name, "", e.Digest, e.fileStamp, s.budget)
		for _, c := range s.cfg.Codings {
			v, side := e.Variants[c.Name], snap.sidecars[name][c.Name]
			if v != nil && !v.Dropped && v.matches(side) {
				a.addVariant(onDisk(snap.fsys, name+c.Suffix, c.Name, v.Digest, v.fileStamp, s.budget))
			}
		}
		return a, 0, nil
	}
	f, err := snap.fsys.Open(name)
	if err != nil {
		return nil, 0, err
	}
	data, state, err := readUnlessWriting(f)
	f.Close()
	switch {
	case err != nil:
		return nil, 0, err
	case !checkSettled:
	case state == beingWritten:
		return nil, settleAge, nil
	case state == writeUnknown && age < settleAge:
		// Without a lease, only time says the writer is done.
		return nil, settleAge - age, nil
	}
	if checkSettled {
		after, err := fs.Stat(snap.fsys, name)
		if err != nil || !stampOf(info, "").matches(after) || int64(len(data)) != info.Size() {
			return nil, settleAge, nil
		}
	}
	switch {
	case s.cfg.Transform != nil:
		// Transformed bytes exist only in memory, budget or not.
		data = s.cfg.Transform(name, data)
		s.budget.take(int64(len(data)))
		a.Identity = InMemory("", data)
	case s.root == nil || s.budget.take(int64(len(data))):
		// Files of a fixed file system (the embedded site) are in the
		// binary already; copying them is free of disk reads.
		a.Identity = InMemory("", data)
	default:
		a.Identity = verifiedOnDisk(snap.fsys, name, "", digest(data), stampOf(info, ""))
	}
	return a, 0, nil
}

// encodeJob is one coding of one asset.
type encodeJob struct {
	snap   *Snapshot
	asset  *Asset
	coding *Coding
}

// FileReport is what precompression made of one file.
type FileReport struct {
	Path     string
	Size     int64
	Variants []VariantReport
}

// VariantReport describes one variant. Source says where it came from.
type VariantReport struct {
	Coding  string
	Size    int64
	Kept    bool          // false: not smaller than the source, or failed
	Source  string        // "encoded", "sidecar" (verified by decoding)
	Elapsed time.Duration // from the start of Precompress until it was published
	Err     error
}

// Precompress gives every compressible file of the current snapshot every
// configured coding it lacks, on all workers, attaching each variant to
// its asset as soon as it is ready so the server offers it at once. A
// sidecar found beside a file is used once decoding it gives back the
// file's exact bytes; a stale or corrupt one is logged and replaced by a
// fresh encoding. Cheap codings run first. It returns when all are done or
// ctx is cancelled.
func (s *Store) Precompress(ctx context.Context) []FileReport {
	start := time.Now()
	snap := s.Snapshot()
	var jobs []encodeJob
	for _, a := range snap.assets {
		if !a.Compressible || !a.scheduled.CompareAndSwap(false, true) {
			continue // already done, or being done by another run
		}
		for _, c := range s.cfg.Codings {
			if !settled(snap, a, c) {
				jobs = append(jobs, encodeJob{snap, a, c})
			}
		}
	}
	slices.SortFunc(jobs, func(x, y encodeJob) int {
		return cmp.Or(
			cmp.Compare(x.coding.cost, y.coding.cost),
			cmp.Compare(x.asset.Identity.Size, y.asset.Identity.Size),
			strings.Compare(x.asset.Path, y.asset.Path))
	})

	if len(jobs) == 0 {
		s.log.Info("nothing to compress: every variant is ready")
		return nil
	}
	var (
		mu      sync.Mutex
		pending = map[*Asset]int{}
		results = map[*Asset][]VariantReport{}
		done    atomic.Int64
		wg      sync.WaitGroup
		queue   = make(chan encodeJob)
	)
	for _, j := range jobs {
		pending[j.asset]++
	}
	for range min(s.cfg.Workers, len(jobs)) {
		wg.Go(func() {
			for j := range queue {
				s.sem <- struct{}{}
				r := s.produce(ctx, j, start)
				<-s.sem
				done.Add(1)
				mu.Lock()
				results[j.asset] = append(results[j.asset], r)
				if pending[j.asset]--; pending[j.asset] == 0 {
					s.logFile(j.asset, results[j.asset])
				}
				mu.Unlock()
			}
		})
	}
	stopProgress := s.reportProgress(start, &done, len(jobs))
feed:
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		select {
		case queue <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	stopProgress()
	if s.cfg.WriteSidecars != nil && ctx.Err() == nil {
		if err := s.writeManifest(); err != nil {
			s.log.Error("cannot write manifest", "err", err)
		}
	}
	return s.summarize(results, start)
}

// settled reports whether a already has coding c, or the manifest says
// encoding it does not pay.
func settled(snap *Snapshot, a *Asset, c *Coding) bool {
	for _, v := range a.Variants() {
		if v.Coding == c.Name {
			return true
		}
	}
	e := snap.manifest.Files[a.Path]
	v := e.variant(c.Name)
	return v != nil && v.Dropped && e.Digest == a.Identity.Digest
}

func (e *manifestEntry) variant(coding string) *manifestVariant {
	if e == nil {
		return nil
	}
	return e.Variants[coding]
}

// produce makes one variant, from a verified sidecar or by encoding, and
// publishes it if it is smaller than the source.
func (s *Store) produce(ctx context.Context, j encodeJob, start time.Time) (r VariantReport) {
	r.Coding = j.coding.Name
	defer func() { r.Elapsed = time.Since(start) }()
	// Stop when the run is cancelled or this version of the file is
	// replaced: encoding it further is wasted work.
	encodeCtx, cancel := context.WithCancel(j.asset.ctx)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	if r.Err = encodeCtx.Err(); r.Err != nil {
		return r
	}
	src, err := j.asset.Identity.Bytes()
	if err != nil {
		r.Err = err
		s.log.Error("cannot read source", "path", j.asset.Path, "err", err)
		return r
	}
	out, fromSidecar := s.verifiedSidecar(j, src)
	r.Source = "sidecar"
	if !fromSidecar {
		r.Source = "encoded"
		if out, err = j.coding.Encode(encodeCtx, src); err != nil {
			r.Err = err
			if encodeCtx.Err() != nil {
				s.log.Debug("encode cancelled", "path", j.asset.Path, "coding", j.coding.Name)
			} else {
				s.log.Error("encode failed", "path", j.asset.Path, "coding", j.coding.Name, "err", err)
			}
			return r
		}
	}
	r.Size = int64(len(out))
	r.Kept = len(out) < len(src)
	if r.Kept {
		v := InMemory(j.coding.Name, out)
		if !s.budget.take(r.Size) {
			if v, err = s.spill(j.coding.Name, out); err != nil {
				r.Err, r.Kept = err, false
				s.log.Error("cannot keep variant on disk", "path", j.asset.Path, "coding", j.coding.Name, "err", err)
				return r
			}
		}
		j.asset.addVariant(v)
	}
	if s.cfg.WriteSidecars != nil {
		if err := s.storeSidecar(j, out, r.Kept); err != nil {
			r.Err = err
			s.log.Error("cannot write sidecar", "path", j.asset.Path+j.coding.Suffix, "err", err)
		}
	}
	return r
}

// verifiedSidecar returns the sidecar beside the asset for this coding if
// it decodes to exactly src. Sidecars from other tools, or from an older
// build, are trusted only this way.
func (s *Store) verifiedSidecar(j encodeJob, src []byte) ([]byte, bool) {
	if j.snap.sidecars[j.asset.Path][j.coding.Name] == nil {
		return nil, false
	}
	name := j.asset.Path + j.coding.Suffix
	enc, err := fs.ReadFile(j.snap.fsys, name)
	if err == nil {
		var plain []byte
		if plain, err = j.coding.Decode(enc, int64(len(src))); err == nil && string(plain) != string(src) {
			err = errors.New("decodes to other bytes than the file")
		}
	}
	if err != nil {
		s.log.Warn("stale or corrupt sidecar ignored; encoding afresh", "path", name, "err", err)
		return nil, false
	}
	return enc, true
}

// storeSidecar writes (or, when the encoding did not pay, removes) the
// sidecar and records it in the manifest.
func (s *Store) storeSidecar(j encodeJob, out []byte, kept bool) error {
	root, name := s.cfg.WriteSidecars, j.asset.Path+j.coding.Suffix
	v := &manifestVariant{Dropped: !kept}
	if kept {
		srcInfo, err := root.Stat(j.asset.Path)
		if err != nil {
			return err
		}
		if err := writeAtomic(root, name, out, srcInfo.Mode().Perm()); err != nil {
			return err
		}
		info, err := root.Stat(name)
		if err != nil {
			return err
		}
		v.fileStamp = stampOf(info, tag(out, j.coding.Name))
	} else if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	srcInfo, err := root.Stat(j.asset.Path)
	if err != nil {
		return err
	}
	s.recordVariant(j.snap.manifest, j.asset, srcInfo, j.coding.Name, v)
	return nil
}

func (s *Store) recordVariant(man *manifest, a *Asset, srcInfo fs.FileInfo, coding string, v *manifestVariant) {
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	e := man.Files[a.Path]
	if e == nil || e.Digest != a.Identity.Digest || !e.matches(srcInfo) {
		e = &manifestEntry{fileStamp: stampOf(srcInfo, a.Identity.Digest), Variants: map[string]*manifestVariant{}}
		man.Files[a.Path] = e
	}
	e.Variants[coding] = v
}

// writeManifest records the current state, dropping files that are gone.
func (s *Store) writeManifest() error {
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	snap := s.Snapshot()
	for name := range snap.manifest.Files {
		if _, ok := snap.Lookup(name); !ok {
			delete(snap.manifest.Files, name)
		}
	}
	data := snap.manifest.marshal()
	if old, err := fs.ReadFile(snap.fsys, ManifestName); err == nil && string(old) == string(data) {
		return nil // nothing changed: rewrite nothing
	}
	return writeAtomic(s.cfg.WriteSidecars, ManifestName, data, 0o644)
}

// reportProgress logs a line every ProgressEvery until the returned
// function is called, so a long brotli pass on a big wasm is not silent.
func (s *Store) reportProgress(start time.Time, done *atomic.Int64, total int) (stop func()) {
	t := time.NewTicker(s.cfg.ProgressEvery)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-t.C:
				s.log.Info("precompressing", "done", done.Load(), "total", total,
					"elapsed", time.Since(start).Round(time.Millisecond))
			case <-quit:
				return
			}
		}
	})
	return func() {
		t.Stop()
		close(quit)
		wg.Wait()
	}
}

// logFile reports one file as soon as all its variants are done.
func (s *Store) logFile(a *Asset, vs []VariantReport) {
	slices.SortFunc(vs, func(x, y VariantReport) int { return strings.Compare(x.Coding, y.Coding) })
	attrs := []any{"path", a.Path, "size", a.Identity.Size}
	for _, v := range vs {
		switch {
		case v.Err != nil:
			attrs = append(attrs, v.Coding, "failed")
		case !v.Kept:
			attrs = append(attrs, v.Coding, fmt.Sprintf("%d (not smaller, dropped)", v.Size))
		default:
			attrs = append(attrs, v.Coding, fmt.Sprintf("%d (-%.1f%%, %s, at %s)",
				v.Size, saving(a.Identity.Size, v.Size), v.Source, v.Elapsed.Round(time.Millisecond)))
		}
	}
	s.log.Info("precompressed", attrs...)
}

// summarize logs the totals and returns the reports sorted by path.
func (s *Store) summarize(results map[*Asset][]VariantReport, start time.Time) []FileReport {
	var reports []FileReport
	var in, out int64
	for a, vs := range results {
		best := a.Identity.Size
		for _, v := range vs {
			if v.Kept {
				best = min(best, v.Size)
			}
		}
		in += a.Identity.Size
		out += best
		reports = append(reports, FileReport{Path: a.Path, Size: a.Identity.Size, Variants: vs})
	}
	slices.SortFunc(reports, func(x, y FileReport) int { return strings.Compare(x.Path, y.Path) })
	s.log.Info("precompression done", "files", len(reports), "bytes", in, "smallest", out,
		"saving", fmt.Sprintf("%.1f%%", saving(in, out)), "elapsed", time.Since(start).Round(time.Millisecond))
	return reports
}

func saving(from, to int64) float64 {
	if from == 0 {
		return 0
	}
	return 100 * float64(from-to) / float64(from)
}
