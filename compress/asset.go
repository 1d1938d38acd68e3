package compress

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"sync/atomic"
	"time"
)

// Representation is one complete byte sequence that stands for one version
// of a file: the file itself (Coding "") or one encoding of it.
type Representation struct {
	Coding string
	Data   []byte
	// Digest identifies Data exactly. It comes from the bytes alone, so it
	// is the same after a restart or on another machine, which lets
	// browsers revalidate (and V8 keep its compiled-wasm cache) across
	// deploys that did not change the file.
	Digest string
}

// Asset is one version of one file. Everything in it is fixed once the
// asset is published, except that encoded variants join over time; a
// variant is only ever attached to the asset whose bytes it encodes, so a
// reader never sees an encoding of another version.
type Asset struct {
	Path         string // slash-separated, relative to the root, no leading slash
	MediaType    string
	ModTime      time.Time // zero when the source has none (embedded files)
	Compressible bool
	Identity     Representation
	variants     atomic.Pointer[[]Representation]
}

// Variants returns the encodings finished so far, smallest first. The
// slice is shared and must not be modified.
func (a *Asset) Variants() []Representation {
	if v := a.variants.Load(); v != nil {
		return *v
	}
	return nil
}

// addVariant publishes r without blocking readers: it swaps in a new
// sorted slice, retrying if another encoder published at the same time.
func (a *Asset) addVariant(r Representation) {
	for {
		old := a.variants.Load()
		var next []Representation
		if old != nil {
			next = slices.Clone(*old)
		}
		next = append(next, r)
		slices.SortStableFunc(next, func(x, y Representation) int { return len(x.Data) - len(y.Data) })
		if a.variants.CompareAndSwap(old, &next) {
			return
		}
	}
}

// digest names data by content. 144 bits of SHA-256 make an accidental
// clash between two versions of a site practically impossible, while keeping
// the tag short enough for every response header.
func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// Snapshot is one immutable view of the site: which version of each file is
// served. A request reads one snapshot for its whole life, so it always
// sends one complete version of one file.
type Snapshot struct {
	assets map[string]*Asset
}

// Lookup returns the asset at a slash-separated path relative to the root.
func (s *Snapshot) Lookup(name string) (*Asset, bool) {
	a, ok := s.assets[name]
	return a, ok
}

// Len reports how many files the snapshot holds.
func (s *Snapshot) Len() int { return len(s.assets) }
