package compress

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
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
}

// Store holds the current snapshot of one root.
type Store struct {
	fsys    fs.FS
	cfg     Config
	log     *slog.Logger
	current atomic.Pointer[Snapshot]
}

// Open scans fsys and publishes a snapshot that serves every file
// uncompressed; call Precompress to add encoded variants. Dotfiles and
// dot-directories are never part of a snapshot. For a directory on disk,
// pass an fs.FS from os.Root so that symlinks cannot lead outside it.
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

func (s *Store) scan() (*Snapshot, error) {
	assets := map[string]*Asset{}
	err := fs.WalkDir(s.fsys, ".", func(name string, d fs.DirEntry, err error) error {
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
		a, err := s.load(name, d)
		if err != nil {
			s.log.Warn("skipping file", "path", name, "err", err)
			return nil
		}
		if a != nil {
			assets[name] = a
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Snapshot{assets: assets}, nil
}

// load reads one file into an asset, or returns nil for entries that are
// not regular files (sockets, symlinks to directories).
func (s *Store) load(name string, d fs.DirEntry) (*Asset, error) {
	info, err := fs.Stat(s.fsys, name) // follows a symlink, within the root only
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		if d.Type()&fs.ModeSymlink == 0 || !info.IsDir() {
			s.log.Debug("skipping non-regular file", "path", name, "mode", info.Mode().String())
		}
		return nil, nil
	}
	data, err := fs.ReadFile(s.fsys, name)
	if err != nil {
		return nil, err
	}
	kind := kindOf(name)
	return &Asset{
		Path:         name,
		MediaType:    kind.mediaType,
		ModTime:      info.ModTime(),
		Compressible: kind.compressible && int64(len(data)) >= s.cfg.MinSize,
		Identity:     Representation{Data: data, Digest: digest(data)},
	}, nil
}

// encodeJob is one coding of one asset.
type encodeJob struct {
	asset  *Asset
	coding *Coding
}

// FileReport is what precompression made of one file.
type FileReport struct {
	Path     string
	Size     int
	Variants []VariantReport
}

// VariantReport describes one encoding attempt. Kept is false when the
// output was not smaller than the source, or the encoder failed.
type VariantReport struct {
	Coding  string
	Size    int
	Kept    bool
	Elapsed time.Duration // from the start of Precompress until it was published
	Err     error
}

// Precompress encodes every compressible file of the current snapshot with
// every configured coding, on all workers, and attaches each variant to its
// asset as soon as it is ready, so the server offers it at once. Cheap
// codings run first. It returns when all are done or ctx is cancelled.
func (s *Store) Precompress(ctx context.Context) []FileReport {
	start := time.Now()
	snap := s.Snapshot()
	var jobs []encodeJob
	for _, a := range snap.assets {
		if !a.Compressible {
			continue
		}
		for _, c := range s.cfg.Codings {
			jobs = append(jobs, encodeJob{a, c})
		}
	}
	slices.SortFunc(jobs, func(x, y encodeJob) int {
		return cmp.Or(
			cmp.Compare(x.coding.cost, y.coding.cost),
			cmp.Compare(len(x.asset.Identity.Data), len(y.asset.Identity.Data)),
			strings.Compare(x.asset.Path, y.asset.Path))
	})
	if len(jobs) == 0 {
		return nil
	}

	var (
		mu      sync.Mutex
		results = map[*Asset][]VariantReport{}
		done    atomic.Int64
		wg      sync.WaitGroup
		queue   = make(chan encodeJob)
	)
	for range min(s.cfg.Workers, len(jobs)) {
		wg.Go(func() {
			for j := range queue {
				r := s.encode(j, start)
				done.Add(1)
				mu.Lock()
				results[j.asset] = append(results[j.asset], r)
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
	return s.summarize(results, start)
}

func (s *Store) encode(j encodeJob, start time.Time) VariantReport {
	src := j.asset.Identity.Data
	out, err := j.coding.Encode(src)
	r := VariantReport{Coding: j.coding.Name, Size: len(out), Err: err}
	if err == nil && len(out) < len(src) {
		j.asset.addVariant(Representation{
			Coding: j.coding.Name,
			Data:   out,
			Digest: digest(out) + "." + j.coding.Name,
		})
		r.Kept = true
	}
	r.Elapsed = time.Since(start)
	if err != nil {
		s.log.Error("encode failed", "path", j.asset.Path, "coding", j.coding.Name, "err", err)
	}
	return r
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

func (s *Store) summarize(results map[*Asset][]VariantReport, start time.Time) []FileReport {
	var reports []FileReport
	var in, out int
	for a, vs := range results {
		slices.SortFunc(vs, func(x, y VariantReport) int { return strings.Compare(x.Coding, y.Coding) })
		reports = append(reports, FileReport{Path: a.Path, Size: len(a.Identity.Data), Variants: vs})
	}
	slices.SortFunc(reports, func(x, y FileReport) int { return strings.Compare(x.Path, y.Path) })
	for _, r := range reports {
		attrs := []any{"path", r.Path, "size", r.Size}
		best := r.Size
		for _, v := range r.Variants {
			switch {
			case v.Err != nil:
				attrs = append(attrs, v.Coding, "failed")
			case !v.Kept:
				attrs = append(attrs, v.Coding, fmt.Sprintf("%d (not smaller, dropped)", v.Size))
			default:
				attrs = append(attrs, v.Coding, fmt.Sprintf("%d (-%.1f%%, at %s)",
					v.Size, saving(r.Size, v.Size), v.Elapsed.Round(time.Millisecond)))
				best = min(best, v.Size)
			}
		}
		s.log.Info("precompressed", attrs...)
		in += r.Size
		out += best
	}
	s.log.Info("precompression done", "files", len(reports), "bytes", in, "smallest", out,
		"saving", fmt.Sprintf("%.1f%%", saving(in, out)), "elapsed", time.Since(start).Round(time.Millisecond))
	return reports
}

func saving(from, to int) float64 {
	if from == 0 {
		return 0
	}
	return 100 * float64(from-to) / float64(from)
}
