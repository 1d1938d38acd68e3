package compress

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

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
	// Rewritten is set when this path held other bytes earlier in this
	// process: a name that promised never to change (a hashed bundle
	// name) broke its promise, and browsers may hold the old bytes.
	Rewritten bool

	variants atomic.Pointer[[]Representation]
	deltas   atomic.Pointer[[]Delta]
	mu       sync.Mutex // serialises addVariant, addDelta and retire
	retired  bool
	// deltaClaims holds the dictionaries a delta is being made against;
	// deltaDropped those whose delta did not pay. Guarded by mu.
	deltaClaims, deltaDropped map[deltaID]bool
	// sums are the file's checksums, taken at its scan when a gzip or
	// zstd sidecar beside it may be taken on evidence (evidenceIn).
	sums *sourceSums
	// stamp is the source file's size and mtime when it was last read;
	// only the scanner uses it, under Store.scanMu.
	stamp fileStamp
	// encoding has bit i set while the store's coding i is being
	// encoded for this asset; notSmaller has it set once that coding
	// turned out not to pay, so that no later run tries it again.
	encoding   atomic.Uint32
	notSmaller atomic.Uint32
	// badSidecar has bit i set once the sidecar of coding i failed a
	// check: it is encoded afresh and never taken again.
	badSidecar atomic.Uint32
	// expected has bit i set while a sidecar of the store's coding i,
	// found beside the file, waits for its check; arrived is closed once
	// none does. Guarded by mu; arrived is read without it.
	expected uint32
	arrived  atomic.Pointer[chan struct{}]
	// ctx ends when a newer version replaces this one, or the file is
	// gone: its encodes are wasted work then, and stop.
	ctx    context.Context
	cancel context.CancelFunc
}

func newAsset(name string, modTime time.Time) *Asset {
	ctx, cancel := context.WithCancel(context.Background())
	kind := kindOf(name)
	return &Asset{Path: name, MediaType: kind.mediaType, ModTime: modTime, Compressible: kind.compressible, ctx: ctx, cancel: cancel}
}

// Variants returns the encodings finished so far, smallest first. The
// slice is shared and must not be modified.
func (a *Asset) Variants() []Representation {
	if v := a.variants.Load(); v != nil {
		return *v
	}
	return nil
}

func (a *Asset) hasVariant(coding string) bool {
	for _, v := range a.Variants() {
		if v.Coding == coding {
			return true
		}
	}
	return false
}

// addVariant publishes r without blocking readers: it swaps in a new
// sorted slice. A retired asset takes no more variants: r is released and
// addVariant reports false.
func (a *Asset) addVariant(r Representation) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.retired {
		r.release()
		return false
	}
	next := append(slices.Clone(a.Variants()), r)
	slices.SortStableFunc(next, func(x, y Representation) int { return cmp.Compare(x.Size, y.Size) })
	a.variants.Store(&next)
	return true
}

// Arriving returns a channel that is closed once every sidecar found
// beside the file has been checked, and taken or refused; nil when none
// waits. A server that would otherwise send a larger representation can
// wait on it: at a cold start, a brotli sidecar takes a few milliseconds
// to check.
func (a *Asset) Arriving() <-chan struct{} {
	if ch := a.arrived.Load(); ch != nil {
		return *ch
	}
	return nil
}

// expect notes that coding bit has a sidecar to check; before the asset
// is published.
func (a *Asset) expect(bit uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.expected == 0 {
		ch := make(chan struct{})
		a.arrived.Store(&ch)
	}
	a.expected |= bit
}

// arrive notes that coding bit's sidecar was checked (or will not be).
func (a *Asset) arrive(bit uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.arriveLocked(bit)
}

func (a *Asset) arriveLocked(bit uint32) {
	if a.expected&bit == 0 {
		return
	}
	if a.expected &^= bit; a.expected == 0 {
		close(*a.arrived.Load())
		a.arrived.Store(nil)
	}
}

// dropVariant takes a variant that failed its check out of the asset.
func (a *Asset) dropVariant(tag string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	vs := a.Variants()
	i := slices.IndexFunc(vs, func(v Representation) bool { return v.Tag == tag })
	if i < 0 {
		return
	}
	vs[i].release()
	next := slices.Delete(slices.Clone(vs), i, i+1)
	a.variants.Store(&next)
}

// retire ends the asset's encodes and gives its memory back; it runs once
// a snapshot without this version is published, or when the version was
// read but not kept.
func (a *Asset) retire() {
	a.cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.retired {
		return
	}
	a.retired = true
	a.arriveLocked(a.expected) // wake whoever waits for sidecars
	a.Identity.release()
	for _, v := range a.Variants() {
		v.release()
	}
	for _, d := range a.Deltas() {
		d.release()
	}
}

// claim marks coding bit as being encoded; false means another run has it.
func (a *Asset) claim(bit uint32) bool { return a.encoding.Or(bit)&bit == 0 }

func (a *Asset) unclaim(bit uint32) { a.encoding.And(^bit) }
