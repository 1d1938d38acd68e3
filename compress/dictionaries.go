package compress

import (
	"cmp"
	"crypto/sha256"
	"io/fs"
	"slices"
	"sync"
	"time"
)

// keepVersions bounds how many earlier versions of one file the store
// keeps as dictionaries. A returning visitor most likely has the version
// just before; two more cover visitors who skipped a deploy or a rebuild.
const keepVersions = 3

// dictionary is an earlier version of a hashed file, kept so that newer
// versions can be sent as deltas against it.
type dictionary struct {
	hash    [sha256.Size]byte
	modTime time.Time
	bytes   Representation // charged to the budget, or spilled
}

// familyVersions is what the store knows of the versions of one hashed
// file.
type familyVersions struct {
	dicts []*dictionary // newest first, at most keepVersions
	// old holds the tags of every version that was served before a
	// newer one appeared: those are not made deltas of anything, only
	// the versions after them are.
	old map[string]bool
}

// dictionaries holds the families' versions; guarded by mu.
type dictionaries struct {
	mu       sync.Mutex
	families map[string]*familyVersions
}

func (d *dictionaries) family(f string) *familyVersions {
	if d.families == nil {
		d.families = map[string]*familyVersions{}
	}
	fv := d.families[f]
	if fv == nil {
		fv = &familyVersions{old: map[string]bool{}}
		d.families[f] = fv
	}
	return fv
}

// forAsset returns the dictionaries a's deltas are made against: those of
// its family, unless a is itself an older version.
func (d *dictionaries) forAsset(a *Asset) []*dictionary {
	f, ok := family(a.Path)
	if !ok || !a.Compressible {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fv := d.families[f]
	if fv == nil || fv.old[a.Identity.Tag] {
		return nil
	}
	return slices.Clone(fv.dicts)
}

// keepDictionary adds a version's bytes as a dictionary of family f, unless it has
// it already, and lets go of the oldest beyond keepVersions.
func (s *Store) keepDictionary(f, tag string, modTime time.Time, data []byte) {
	d := &s.dicts
	d.mu.Lock()
	defer d.mu.Unlock()
	fv := d.family(f)
	fv.old[tag] = true
	if slices.ContainsFunc(fv.dicts, func(x *dictionary) bool { return x.bytes.Tag == tag }) {
		return
	}
	sum := sha256.Sum256(data)
	rep, err := s.keepTagged("", tagOf(sum[:], ""), data)
	if err != nil {
		s.log.Warn("cannot keep an earlier version for deltas", "family", f, "err", err)
		return
	}
	fv.dicts = append(fv.dicts, &dictionary{hash: sum, modTime: modTime, bytes: rep})
	slices.SortStableFunc(fv.dicts, func(x, y *dictionary) int { return y.modTime.Compare(x.modTime) })
	for _, x := range fv.dicts[min(len(fv.dicts), keepVersions):] {
		x.bytes.release()
	}
	fv.dicts = fv.dicts[:min(len(fv.dicts), keepVersions)]
}

// keepReplaced runs as next replaces prev: for each hashed file with a
// version new in next, the versions of it that prev served become
// dictionaries for the new one. The caller holds scanMu; prev's assets
// are not retired yet, so their bytes are still at hand.
func (s *Store) keepReplaced(prev, next *Snapshot) {
	if !s.cfg.Deltas || prev == nil {
		return
	}
	fresh := map[string]bool{}
	for name, a := range next.assets {
		if prev.assets[name] == a || !a.Compressible {
			continue
		}
		if f, ok := family(name); ok {
			fresh[f] = true
		}
	}
	if len(fresh) == 0 {
		return
	}
	for name, old := range prev.assets {
		f, ok := family(name)
		if !ok || !fresh[f] || !old.Compressible {
			continue
		}
		data, err := old.Identity.Bytes()
		if err != nil {
			// On disk and gone (the build deleted it): not a dictionary.
			s.log.Debug("earlier version unreadable; no deltas against it", "path", name, "err", err)
			s.dicts.mu.Lock()
			s.dicts.family(f).old[old.Identity.Tag] = true
			s.dicts.mu.Unlock()
			continue
		}
		s.keepDictionary(f, old.Identity.Tag, old.ModTime, data)
	}
}

// loadPrevious reads the files of Config.Previous that are earlier
// versions of hashed files in snap (same directory and name, any hash)
// and keeps them as dictionaries.
func (s *Store) loadPrevious(snap *Snapshot) error {
	current := map[string]map[string]bool{} // family → tags served now
	for name, a := range snap.assets {
		if f, ok := family(name); ok && a.Compressible {
			if current[f] == nil {
				current[f] = map[string]bool{}
			}
			current[f][a.Identity.Tag] = true
		}
	}
	type found struct {
		fsys fs.FS
		name string
		info fs.FileInfo
	}
	var files []found
	for _, fsys := range s.cfg.Previous {
		all, err := s.walk(fsys)
		if err != nil {
			return err
		}
		for name, info := range all {
			if f, ok := family(name); ok && current[f] != nil {
				files = append(files, found{fsys, name, info})
			}
		}
	}
	// Oldest first, so that the newest are kept when there are many.
	slices.SortFunc(files, func(x, y found) int { return cmp.Compare(x.info.ModTime().UnixNano(), y.info.ModTime().UnixNano()) })
	for _, p := range files {
		data, err := fs.ReadFile(p.fsys, p.name)
		if err != nil {
			return err
		}
		f, _ := family(p.name)
		t := tag(data, "")
		if current[f][t] {
			continue // the same version: nothing to send
		}
		s.keepDictionary(f, t, p.info.ModTime(), data)
	}
	return nil
}

// deltaCodings are the delta codings the store makes.
func (s *Store) deltaCodings() []string {
	if s.cfg.BrotliDeltas {
		return []string{DeltaZstd, DeltaBrotli}
	}
	return []string{DeltaZstd}
}
