package compress

import (
	"io/fs"
	"iter"
	"maps"
)

// Snapshot is one immutable view of the site: which version of each file is
// served. A request reads one snapshot for its whole life, so it always
// sends one complete version of one file.
type Snapshot struct {
	assets   map[string]*Asset
	fsys     fs.FS // what the snapshot was scanned from
	manifest *manifest
	// sidecars maps a source file to the sidecar files found beside it,
	// by coding name, with what stat said of them.
	sidecars map[string]map[string]fs.FileInfo
	// generation numbers the snapshots of a store from 1, in the order
	// they were published.
	generation uint64
}

// Lookup returns the asset at a slash-separated path relative to the root.
func (s *Snapshot) Lookup(name string) (*Asset, bool) {
	a, ok := s.assets[name]
	return a, ok
}

// All yields the snapshot's assets by path, in no particular order.
func (s *Snapshot) All() iter.Seq2[string, *Asset] { return maps.All(s.assets) }

// Len reports how many files the snapshot holds.
func (s *Snapshot) Len() int { return len(s.assets) }

// sameAssets reports whether two snapshots serve the same versions.
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
