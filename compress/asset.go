package compress

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Representation is one complete byte sequence that stands for one version
// of a file: the file itself (Coding "") or one encoding of it. Its bytes
// may still be on disk (a file or sidecar that a manifest vouches for):
// they are read on first use, so that a cold start reads only what the
// first requests need.
type Representation struct {
	Coding string
	// Digest identifies the bytes exactly. It comes from the bytes alone,
	// so it is the same after a restart or on another machine, which lets
	// browsers revalidate (and V8 keep its compiled-wasm cache) across
	// deploys that did not change the file.
	Digest  string
	Size    int64
	content *content
}

// InMemory makes a representation of bytes already in memory.
func InMemory(coding string, data []byte) Representation {
	return Representation{Coding: coding, Digest: tag(data, coding), Size: int64(len(data)), content: loaded(data)}
}

// Bytes returns the representation's bytes, reading them on first use.
// An error means the file on disk no longer holds the bytes that Digest
// names; the representation must not be served.
func (r *Representation) Bytes() ([]byte, error) {
	if r.content == nil {
		return nil, nil
	}
	return r.content.get()
}

// content is bytes that are either in memory or loaded once, on demand.
type content struct {
	once sync.Once
	load func() ([]byte, error)
	data []byte
	err  error
}

func loaded(data []byte) *content {
	c := &content{data: data}
	c.once.Do(func() {})
	return c
}

func (c *content) get() ([]byte, error) {
	c.once.Do(func() {
		c.data, c.err = c.load()
		c.load = nil
	})
	return c.data, c.err
}

// onDisk makes a representation whose bytes are read from fsys on first
// use, and checked then against the size and digest the manifest recorded.
func onDisk(fsys fs.FS, name, coding, wantDigest string, wantSize int64) Representation {
	return Representation{Coding: coding, Digest: wantDigest, Size: wantSize, content: &content{load: func() ([]byte, error) {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		if int64(len(data)) != wantSize || tag(data, coding) != wantDigest {
			return nil, fmt.Errorf("%s changed on disk since it was indexed", name)
		}
		return data, nil
	}}}
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
	// stamp is the source file's size and mtime when it was read.
	stamp fileStamp
	// scheduled is set once encodes for this version are queued.
	scheduled atomic.Bool
	// ctx ends when a newer version replaces this one, or the file is
	// gone: its encodes are wasted work then, and stop.
	ctx    context.Context
	retire context.CancelFunc
}

func newAsset(name string, modTime time.Time) *Asset {
	ctx, cancel := context.WithCancel(context.Background())
	kind := kindOf(name)
	return &Asset{Path: name, MediaType: kind.mediaType, ModTime: modTime, Compressible: kind.compressible, ctx: ctx, retire: cancel}
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
		slices.SortStableFunc(next, func(x, y Representation) int { return cmp.Compare(x.Size, y.Size) })
		if a.variants.CompareAndSwap(old, &next) {
			return
		}
	}
}

// tag is the Digest of a representation: the content digest, plus the
// coding's name for encodings so that tags are readable in a browser's
// network panel.
func tag(data []byte, coding string) string {
	if coding == "" {
		return digest(data)
	}
	return digest(data) + "." + coding
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
	assets   map[string]*Asset
	fsys     fs.FS // what the snapshot was scanned from
	manifest *manifest
	// sidecars maps a source file to the sidecar files found beside it,
	// by coding name, with what stat said of them.
	sidecars map[string]map[string]fs.FileInfo
}

// Lookup returns the asset at a slash-separated path relative to the root.
func (s *Snapshot) Lookup(name string) (*Asset, bool) {
	a, ok := s.assets[name]
	return a, ok
}

// Len reports how many files the snapshot holds.
func (s *Snapshot) Len() int { return len(s.assets) }
