package compress

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
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
}

// Store holds the current snapshot of one root.
type Store struct {
	fsys     fs.FS
	cfg      Config
	log      *slog.Logger
	current  atomic.Pointer[Snapshot]
	manifest *manifest
	// manifestMu guards manifest while precompress workers record sidecars.
	manifestMu sync.Mutex
	// sidecars maps a source file to the sidecar files found beside it,
	// by coding name, with what stat said of them at scan time.
	sidecars map[string]map[string]fs.FileInfo
}

// Open scans fsys and publishes a snapshot that serves every file
// uncompressed, plus every variant a valid manifest vouches for; call
// Precompress for the rest. Dotfiles, dot-directories and sidecar files
// (app.wasm.br beside app.wasm) are never part of a snapshot. For a
// directory on disk, pass an fs.FS from os.Root so that symlinks cannot
// lead outside it.
func Open(fsys fs.FS, cfg Config) (*Store, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MinSize <= 0 {
		cfg.MinSize = DefaultMinSize
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{fsys: fsys, cfg: cfg, log: log}
	snap, err := s.scan()
	if err != nil {
		return nil, err
	}
	s.current.Store(snap)
	return s, nil
}

// Snapshot returns the snapshot to serve now.
func (s *Store) Snapshot() *Snapshot { return s.current.Load() }

// hidden reports whether a path element must never be served: dotfiles
// hold secrets (.env) and repository data (.git).
func hidden(name string) bool { return strings.HasPrefix(name, ".") }

// sidecarSuffixes are the names other tools (cargo-leptos --precompress,
// nginx, Caddy, tower-http) and brisk give precompressed files.
var sidecarSuffixes = map[string]string{".br": "br", ".zst": "zstd", ".gz": "gzip"}

func (s *Store) scan() (*Snapshot, error) {
	man, err := readManifest(s.fsys)
	if err != nil {
		s.log.Warn("ignoring manifest; sidecars will be verified by decoding", "err", err)
	}
	s.manifest = man

	files := map[string]fs.FileInfo{}
	err = fs.WalkDir(s.fsys, ".", func(name string, d fs.DirEntry, err error) error {
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
		info, err := fs.Stat(s.fsys, name) // follows a symlink, within the root only
		switch {
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
		return nil, err
	}

	s.sidecars = map[string]map[string]fs.FileInfo{}
	for name, info := range files {
		for suffix, coding := range sidecarSuffixes {
			src, ok := strings.CutSuffix(name, suffix)
			if _, isSidecar := files[src]; ok && isSidecar {
				if s.sidecars[src] == nil {
					s.sidecars[src] = map[string]fs.FileInfo{}
				}
				s.sidecars[src][coding] = info
				delete(files, name)
			}
		}
	}

	assets := make(map[string]*Asset, len(files))
	for name, info := range files {
		a, err := s.newAsset(name, info)
		if err != nil {
			s.log.Warn("skipping file", "path", name, "err", err)
			continue
		}
		assets[name] = a
	}
	return &Snapshot{assets: assets}, nil
}

// newAsset describes one file. When the manifest vouches for it, nothing is
// read now; otherwise the file is read and hashed.
func (s *Store) newAsset(name string, info fs.FileInfo) (*Asset, error) {
	kind := kindOf(name)
	a := &Asset{
		Path:         name,
		MediaType:    kind.mediaType,
		ModTime:      info.ModTime(),
		Compressible: kind.compressible && info.Size() >= s.cfg.MinSize,
	}
	if e := s.manifest.Files[name]; e != nil && e.matches(info) {
		a.Identity = onDisk(s.fsys, name, "", e.Digest, e.Size)
		for _, c := range s.cfg.Codings {
			v, side := e.Variants[c.Name], s.sidecars[name][c.Name]
			if v != nil && !v.Dropped && v.matches(side) {
				a.addVariant(onDisk(s.fsys, name+c.Suffix, c.Name, v.Digest, v.Size))
			}
		}
		return a, nil
	}
	data, err := fs.ReadFile(s.fsys, name)
	if err != nil {
		return nil, err
	}
	a.Identity = InMemory("", data)
	return a, nil
}

// encodeJob is one coding of one asset.
type encodeJob struct {
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
		if !a.Compressible {
			continue
		}
		for _, c := range s.cfg.Codings {
			if !s.settled(a, c) {
				jobs = append(jobs, encodeJob{a, c})
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
				r := s.produce(j, start)
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
func (s *Store) settled(a *Asset, c *Coding) bool {
	for _, v := range a.Variants() {
		if v.Coding == c.Name {
			return true
		}
	}
	e := s.manifest.Files[a.Path]
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
func (s *Store) produce(j encodeJob, start time.Time) (r VariantReport) {
	r.Coding = j.coding.Name
	defer func() { r.Elapsed = time.Since(start) }()
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
		if out, err = j.coding.Encode(src); err != nil {
			r.Err = err
			s.log.Error("encode failed", "path", j.asset.Path, "coding", j.coding.Name, "err", err)
			return r
		}
	}
	r.Size = int64(len(out))
	r.Kept = len(out) < len(src)
	if r.Kept {
		j.asset.addVariant(InMemory(j.coding.Name, out))
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
	if s.sidecars[j.asset.Path][j.coding.Name] == nil {
		return nil, false
	}
	name := j.asset.Path + j.coding.Suffix
	enc, err := fs.ReadFile(s.fsys, name)
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
	s.recordVariant(j.asset, srcInfo, j.coding.Name, v)
	return nil
}

func (s *Store) recordVariant(a *Asset, srcInfo fs.FileInfo, coding string, v *manifestVariant) {
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	e := s.manifest.Files[a.Path]
	if e == nil || e.Digest != a.Identity.Digest || !e.matches(srcInfo) {
		e = &manifestEntry{fileStamp: stampOf(srcInfo, a.Identity.Digest), Variants: map[string]*manifestVariant{}}
		s.manifest.Files[a.Path] = e
	}
	e.Variants[coding] = v
}

// writeManifest records the current state, dropping files that are gone.
func (s *Store) writeManifest() error {
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	snap := s.Snapshot()
	for name := range s.manifest.Files {
		if _, ok := snap.Lookup(name); !ok {
			delete(s.manifest.Files, name)
		}
	}
	data, err := json.MarshalIndent(s.manifest, "", " ")
	if err != nil {
		return err
	}
	if old, err := fs.ReadFile(s.fsys, ManifestName); err == nil && string(old) == string(data) {
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
