package compress

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"
)

// hidden reports whether a path element must never be served: dotfiles
// hold secrets (.env) and repository data (.git).
func hidden(name string) bool { return strings.HasPrefix(name, ".") }

// sidecarSuffixes are the names other tools (cargo-leptos --precompress,
// nginx, Caddy, tower-http) and brisk give precompressed files.
var sidecarSuffixes = map[string]string{".br": "br", ".zst": "zstd", ".gz": "gzip"}

// scan builds a snapshot of the root. With prev (a rescan) it reuses every
// asset whose file did not change, and leaves alone files that are still
// being written.
func (s *Store) scan(prev *Snapshot) (snap *Snapshot, retryIn time.Duration, err error) {
	fsys := s.fsys()
	man, err := readManifest(fsys)
	if err != nil {
		s.log.Warn("ignoring manifest; sidecars will be verified by decoding", "err", err)
	}
	if s.cfg.Transform != nil {
		man = newManifest()
	}
	files, err := s.walk(fsys)
	if err != nil {
		return nil, 0, err
	}
	sidecars := splitSidecars(files)
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
		case old != nil && old.Identity.Tag == a.Identity.Tag:
			// Rewritten with the same bytes: keep variants and ETags,
			// and remember the new stamp so the next rescan skips it.
			old.stamp = a.stamp
			if d := a.Identity.content.disk.Load(); d != nil {
				old.Identity.content.disk.Store(d)
			}
			a.retire()
			a = old
		default:
			if h := s.history[name]; h != nil {
				a.Rewritten = h.rewritten || h.tag != a.Identity.Tag
			}
		}
		if a != nil {
			snap.assets[name] = a
		}
	}
	return snap, retryIn, nil
}

// walk lists the regular files under the root, skipping hidden names and
// following symlinks only within the root.
func (s *Store) walk(fsys fs.FS) (map[string]fs.FileInfo, error) {
	files := map[string]fs.FileInfo{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
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
	return files, err
}

// splitSidecars takes the sidecar files out of files and returns them by
// source and coding. A file is a sidecar when its name is another file's
// plus a sidecar suffix (app.wasm.br beside app.wasm). That is decided on
// the whole listing before anything is removed, so that a chain such as
// a.js, a.js.br, a.js.br.gz comes out the same whatever the order: both
// a.js.br and a.js.br.gz are sidecars, and only a.js is served.
func splitSidecars(files map[string]fs.FileInfo) map[string]map[string]fs.FileInfo {
	sidecars := map[string]map[string]fs.FileInfo{}
	var found []string
	add := func(name, src, key string, info fs.FileInfo) {
		if _, exists := files[src]; !exists {
			return
		}
		if sidecars[src] == nil {
			sidecars[src] = map[string]fs.FileInfo{}
		}
		sidecars[src][key] = info
		found = append(found, name)
	}
	for name, info := range files {
		if src, key, ok := cutDeltaSidecar(name); ok {
			add(name, src, key, info)
		}
		for suffix, coding := range sidecarSuffixes {
			if src, ok := strings.CutSuffix(name, suffix); ok {
				add(name, src, coding, info)
			}
		}
	}
	for _, name := range found {
		delete(files, name)
		delete(sidecars, name) // a sidecar's own sidecars encode nothing served
	}
	return sidecars
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
		a.Identity = onDisk(snap.fsys, name, "", e.Tag, e.fileStamp, s.budget)
		for i, c := range s.cfg.Codings {
			v, side := e.Variants[c.Name], snap.sidecars[name][c.Name]
			if v != nil && !v.NotSmaller && v.matches(side) {
				rep := onDisk(snap.fsys, name+c.Suffix, c.Name, v.Tag, v.fileStamp, s.budget)
				rep.content.onBad = func() { s.repair(a, 1<<i, v.Tag) }
				a.addVariant(rep)
			}
		}
		for key, v := range e.Variants {
			id, ok := parseDeltaKey(key)
			if ok && !v.NotSmaller && v.matches(snap.sidecars[name][id.sidecarKey()]) {
				rep := onDisk(snap.fsys, name+id.suffix(), id.coding, v.Tag, v.fileStamp, s.budget)
				a.addDelta(Delta{Representation: rep, Dictionary: id.dict})
			}
		}
		return a, 0, nil
	}
	f, err := snap.fsys.Open(name)
	if err != nil {
		return nil, 0, err
	}
	// A file read whole now costs a page of fresh memory per 4 KiB,
	// paid before the first response of a cold start: a large one is
	// hashed in passing and moves into memory after its first use.
	var src sourceRead
	keep := s.cfg.Transform != nil || info.Size() <= residentAtScan
	state, err := readUnlessWriting(f, func(r io.Reader) error {
		return src.read(r, info.Size(), keep, s.wantsEvidence(snap, name))
	})
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
		if err != nil || !stampOf(info, "").matches(after) || src.n != info.Size() {
			return nil, settleAge, nil
		}
	}
	a.sums = src.sums
	switch t := tagOf(src.sum[:], ""); {
	case s.cfg.Transform != nil:
		// Transformed bytes exist nowhere on disk: in memory, or else
		// in the cache directory.
		if a.Identity, err = s.keepBytes("", s.cfg.Transform(name, src.data)); err != nil {
			return nil, 0, err
		}
	case src.data == nil:
		a.Identity = onDisk(snap.fsys, name, "", t, stampOf(info, ""), s.budget)
	default:
		if held := s.budget.charge(src.n); held != nil {
			a.Identity = Representation{Tag: t, Size: src.n, content: inMemory(src.data, held)}
		} else {
			a.Identity = verifiedOnDisk(snap.fsys, name, "", t, stampOf(info, ""))
		}
	}
	s.expectSidecars(snap, a)
	return a, 0, nil
}

// residentAtScan is the largest file a scan reads into memory at once.
const residentAtScan = 64 << 10

// wantsEvidence reports whether the file at name has a gzip or zstd
// sidecar to take on its evidence, which needs the file's checksums.
func (s *Store) wantsEvidence(snap *Snapshot, name string) bool {
	if s.cfg.WriteSidecars != nil {
		return false // a manifest vouches only for sidecars decoded in full
	}
	for coding := range snap.sidecars[name] {
		if hasEvidence(coding) {
			return true
		}
	}
	return false
}

// expectSidecars notes the sidecars beside a new file that a Precompress
// run will check before it encodes anything (see takeSidecar), so that
// a request can wait for them rather than get a larger representation.
func (s *Store) expectSidecars(snap *Snapshot, a *Asset) {
	if !a.Compressible {
		return
	}
	for i, c := range s.cfg.Codings {
		j := encodeJob{snap: snap, asset: a, coding: c, bit: 1 << i}
		if snap.sidecars[a.Path][c.Name] != nil && s.needsEncoding(j) {
			a.expect(j.bit)
		}
	}
}
