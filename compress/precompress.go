package compress

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// encodeJob is one coding of one asset, or (with dict) one delta.
type encodeJob struct {
	snap   *Snapshot
	asset  *Asset
	coding *Coding
	bit    uint32 // the coding's bit in Asset.encoding and Asset.notSmaller
	// For a delta, coding is nil: dict is the earlier version it is made
	// against, delta its coding (DeltaZstd or DeltaBrotli).
	dict  *dictionary
	delta string
}

// FileReport is what precompression made of one file.
type FileReport struct {
	Path     string
	Size     int64
	Variants []VariantReport
}

// VariantReport describes one variant. Source says where it came from.
type VariantReport struct {
	Coding string
	// Dictionary names a delta's dictionary: the first 8 bytes of its
	// SHA-256 in hex; "" for other codings.
	Dictionary string
	Size       int64
	Kept       bool          // false: not smaller than the source, or failed
	Source     string        // "encoded", "sidecar" (verified by decoding), "sidecar, checked later" (taken on its evidence)
	Elapsed    time.Duration // from the start of Precompress until it was published
	Err        error
}

// Precompress gives every compressible file of the current snapshot every
// configured coding it lacks, on all workers, attaching each variant to
// its asset as soon as it is ready so the server offers it at once. A
// sidecar found beside a file is used once decoding it gives back the
// file's exact bytes, or at once when its own checksums name the file
// (gzip, zstd: see evidenceIn), decoded in full after its first use; a
// stale or corrupt one is logged and replaced by a fresh encoding. Cheap codings run first, deltas against earlier
// versions (see Config.Deltas) last. It returns when all are done or
// ctx is cancelled. Runs may overlap: each variant is encoded by one run
// at a time, and one that a cancelled or failed run left undone is done
// by the next run.
func (s *Store) Precompress(ctx context.Context) []FileReport {
	start := time.Now()
	jobs := s.claimJobs(s.Snapshot())
	if len(jobs) == 0 {
		// Said once, at start, when a manifest left nothing to do; an
		// idle rescan or a run beside a busy one says it only in debug.
		if s.encoding.Load() == 0 && s.saidDone.CompareAndSwap(false, true) {
			s.log.Info("nothing to compress: every variant is ready")
		} else {
			s.log.Debug("nothing to compress")
		}
		return nil
	}
	s.encoding.Add(int64(len(jobs)))
	defer s.saidDone.Store(true)
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
				s.unclaim(j, r.Err == nil && !r.Kept)
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
	fed := 0
feed:
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		select {
		case queue <- j:
			fed++
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	stopProgress()
	for _, j := range jobs[fed:] {
		s.unclaim(j, false) // never started: the next run does it
	}
	if s.cfg.WriteSidecars != nil && ctx.Err() == nil {
		if err := s.writeManifest(); err != nil {
			s.log.Error("cannot write manifest", "err", err)
		}
	}
	return s.summarize(results, start)
}

// claimJobs lists, cheapest first, the variants of snap that no run has
// made or is making, and claims them for this run.
func (s *Store) claimJobs(snap *Snapshot) []encodeJob {
	var jobs []encodeJob
	for _, a := range snap.assets {
		if !a.Compressible {
			continue
		}
		for i, c := range s.cfg.Codings {
			j := encodeJob{snap: snap, asset: a, coding: c, bit: 1 << i}
			if s.needsEncoding(j) && a.claim(j.bit) {
				jobs = append(jobs, j)
			}
		}
		for _, d := range s.dicts.forAsset(a) {
			for _, coding := range s.deltaCodings() {
				j := encodeJob{snap: snap, asset: a, dict: d, delta: coding}
				if s.needsEncoding(j) && a.claimDelta(j.id()) {
					jobs = append(jobs, j)
				}
			}
		}
	}
	slices.SortFunc(jobs, func(x, y encodeJob) int {
		return cmp.Or(
			cmp.Compare(x.cost(), y.cost()),
			cmp.Compare(x.asset.Identity.Size, y.asset.Identity.Size),
			strings.Compare(x.asset.Path, y.asset.Path))
	})
	return jobs
}

// unclaim ends j's claim; dropped records that its output did not pay.
func (s *Store) unclaim(j encodeJob, dropped bool) {
	if j.dict != nil {
		j.asset.unclaimDelta(j.id(), dropped)
	} else {
		if dropped {
			j.asset.notSmaller.Or(j.bit)
		}
		j.asset.unclaim(j.bit)
	}
	s.encoding.Add(-1)
}

// needsEncoding reports whether j's asset lacks j's coding, and neither
// this process nor the manifest learnt that the coding does not pay.
func (s *Store) needsEncoding(j encodeJob) bool {
	a := j.asset
	if j.dict == nil && (a.hasVariant(j.coding.Name) || a.notSmaller.Load()&j.bit != 0) {
		return false
	}
	e := j.snap.manifest.Files[a.Path]
	if e == nil || e.Tag != a.Identity.Tag {
		return true
	}
	v := e.Variants[j.key()]
	return v == nil || !v.NotSmaller
}

// produce makes one variant or delta, from a verified sidecar or by
// encoding, and publishes it if it is smaller than the source.
func (s *Store) produce(ctx context.Context, j encodeJob, start time.Time) (r VariantReport) {
	r.Coding = j.codingName()
	if j.dict != nil {
		r.Dictionary = hex.EncodeToString(j.dict.hash[:8])
	}
	defer func() { r.Elapsed = time.Since(start) }()
	// Stop when the run is cancelled or this version of the file is
	// replaced: encoding it further is wasted work.
	encodeCtx, cancel := context.WithCancel(j.asset.ctx)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	if r.Err = encodeCtx.Err(); r.Err != nil {
		return r
	}
	if j.dict == nil {
		if taken := s.takeSidecar(j, &r); taken {
			return r
		}
	}
	src, err := j.asset.Identity.Bytes()
	if err != nil {
		r.Err = err
		s.log.Error("cannot read source", "path", j.asset.Path, "err", err)
		return r
	}
	var out []byte
	fromSidecar := false
	if j.dict != nil {
		out, fromSidecar = s.verifiedDeltaSidecar(j, src)
	}
	r.Source = "sidecar"
	if !fromSidecar {
		r.Source = "encoded"
		began := time.Now()
		out, err = j.encode(encodeCtx, src)
		if j.dict == nil {
			s.countEncode(bits.TrailingZeros32(j.bit), time.Since(began))
		}
		switch {
		case errors.Is(err, ErrWindowTooLarge):
			s.log.Info("no delta: file too large for a dcz window", "path", j.asset.Path, "size", len(src))
			out = src // not smaller: dropped, and recorded as such
		case err != nil:
			r.Err = err
			if encodeCtx.Err() != nil {
				s.log.Debug("encode cancelled", "path", j.asset.Path, "coding", r.Coding)
			} else {
				s.log.Error("encode failed", "path", j.asset.Path, "coding", r.Coding, "err", err)
			}
			return r
		case j.dict != nil:
			// Checked once before it is served, as a sidecar would be:
			// a browser has no fallback for a delta it cannot decode.
			if err := j.verify(out, src); err != nil {
				r.Err = err
				s.log.Error("delta does not decode to the file; not served", "path", j.asset.Path, "err", err)
				return r
			}
		}
	}
	r.Size = int64(len(out))
	r.Kept = len(out) < len(src)
	var keptTag string
	if r.Kept {
		v, err := s.keepBytes(r.Coding, out)
		if err != nil {
			r.Err, r.Kept = err, false
			s.log.Error("cannot keep variant on disk", "path", j.asset.Path, "coding", r.Coding, "err", err)
			return r
		}
		keptTag = v.Tag
		if j.dict != nil {
			j.asset.addDelta(Delta{Representation: v, Dictionary: j.dict.hash})
		} else {
			j.asset.addVariant(v)
		}
	}
	if s.cfg.WriteSidecars != nil {
		var err error
		if fromSidecar { // in place and right: recorded, not written again
			err = s.recordSidecar(j, j.snap.sidecars[j.asset.Path][j.sidecarKey()], keptTag, r.Kept)
		} else {
			err = s.storeSidecar(j, out, keptTag, r.Kept)
		}
		if err != nil {
			r.Err = err
			s.log.Error("cannot write sidecar", "path", j.asset.Path+j.suffix(), "err", err)
		}
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

// logFile reports one file as soon as all its variants are done.
func (s *Store) logFile(a *Asset, vs []VariantReport) {
	slices.SortFunc(vs, func(x, y VariantReport) int { return strings.Compare(x.Coding, y.Coding) })
	attrs := []any{"path", a.Path, "size", a.Identity.Size}
	for _, v := range vs {
		label := v.Coding
		if v.Dictionary != "" {
			label += "@" + v.Dictionary
		}
		switch {
		case v.Err != nil:
			attrs = append(attrs, label, "failed")
		case !v.Kept:
			attrs = append(attrs, label, fmt.Sprintf("%d (not smaller, dropped)", v.Size))
		default:
			attrs = append(attrs, label, fmt.Sprintf("%d (-%.1f%%, %s, at %s)",
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
			if v.Kept && v.Dictionary == "" { // a delta is for some visitors only
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
