package compress

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Representation is one complete byte sequence that stands for one version
// of a file: the file itself (Coding "") or one encoding of it. Its bytes
// are in memory, or on disk (the site's own file, a sidecar a manifest
// vouches for, or a variant spilled to the cache directory) when the
// memory budget is spent; Body tells which.
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
	return Representation{Coding: coding, Digest: tag(data, coding), Size: int64(len(data)), content: resident(data)}
}

// Body returns the bytes to send: in memory, or else an open file of
// exactly Size bytes, which the caller closes (and which a server can hand
// to sendfile). Bytes on disk that a manifest vouches for are served from
// disk at once, so that a cold start answers without reading them first;
// checkDelay later they are read once in the background, checked against
// Digest, and kept in memory if the budget allows. An error means the bytes on
// disk are not the ones Digest names; the representation must not be
// served.
func (r *Representation) Body() ([]byte, fs.File, error) {
	c := r.content
	if c == nil {
		return nil, nil, nil
	}
	if data := c.mem.Load(); data != nil {
		return *data, nil, nil
	}
	if err := c.bad.Load(); err != nil {
		return nil, nil, *err
	}
	if c.want != "" && c.started.CompareAndSwap(false, true) {
		time.AfterFunc(checkDelay, func() { c.settle.Do(c.check) })
	}
	f, err := c.disk.open()
	return nil, f, err
}

// checkDelay is how long bytes vouched for by a manifest are served from
// disk before their background check. Reading and hashing a large wasm
// at once competes with the rest of a cold start's first page load: on one
// CPU, the first 4 MB response of a cold start took 32 ms to its last byte
// with the check started at once, 24 ms with it a second later.
var checkDelay = time.Second

// Bytes returns the representation's bytes, checked, reading them from
// disk if they are not in memory (the encoders need them whole).
func (r *Representation) Bytes() ([]byte, error) {
	if c := r.content; c != nil && c.want != "" {
		c.settle.Do(c.check)
	}
	data, f, err := r.Body()
	if f == nil || err != nil {
		return data, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// content is bytes in memory (mem), or on disk (disk) unless and until
// check has verified them and the budget let them into memory.
type content struct {
	mem     atomic.Pointer[[]byte]
	bad     atomic.Pointer[error]
	disk    *diskFile
	budget  *budget // charged when bytes from disk are kept in memory
	want    string  // the digest the bytes on disk must have; "" once trusted
	coding  string
	started atomic.Bool
	settle  sync.Once
}

func resident(data []byte) *content {
	c := &content{}
	c.mem.Store(&data)
	return c
}

// diskFile locates bytes on disk and recognises them by size and
// modification time, as they were when indexed.
type diskFile struct {
	fsys  fs.FS
	name  string
	stamp fileStamp
}

func (d *diskFile) open() (fs.File, error) {
	f, err := d.fsys.Open(d.name)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil && !d.stamp.matches(info) {
		err = fmt.Errorf("%s changed on disk since it was indexed", d.name)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// check runs once for bytes on disk that a manifest vouches for: it
// verifies them against the digest (a sidecar may have been damaged with
// its size and mtime intact) and keeps them in memory when the budget has
// room.
func (c *content) check() {
	fail := func(err error) { c.bad.Store(&err) }
	f, err := c.disk.open()
	if err != nil {
		fail(err)
		return
	}
	defer f.Close()
	changed := fmt.Errorf("%s changed on disk since it was indexed", c.disk.name)
	if !c.budget.take(c.disk.stamp.Size) {
		// Staying on disk: hash it in passing, without holding it all.
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			fail(err)
		} else if tagOf(h.Sum(nil), c.coding) != c.want {
			fail(changed)
		}
		return
	}
	data, err := io.ReadAll(f)
	switch {
	case err != nil:
		fail(err)
	case tag(data, c.coding) != c.want:
		fail(changed)
	default:
		c.mem.Store(&data)
		return
	}
	c.budget.give(c.disk.stamp.Size)
}

// onDisk makes a representation whose bytes stay in fsys until first use,
// when they are checked against the size and digest the manifest recorded.
func onDisk(fsys fs.FS, name, coding, wantDigest string, stamp fileStamp, b *budget) Representation {
	return Representation{Coding: coding, Digest: wantDigest, Size: stamp.Size, content: &content{
		disk: &diskFile{fsys: fsys, name: name, stamp: stamp}, budget: b, want: wantDigest, coding: coding,
	}}
}

// verifiedOnDisk makes a representation of bytes the store has just
// hashed or written itself, kept on disk because the budget is spent.
func verifiedOnDisk(fsys fs.FS, name, coding, digest string, stamp fileStamp) Representation {
	c := &content{disk: &diskFile{fsys: fsys, name: name, stamp: stamp}}
	return Representation{Coding: coding, Digest: digest, Size: stamp.Size, content: c}
}

// residentSize is how many bytes of r are held in memory.
func (r *Representation) residentSize() int64 {
	if r.content == nil {
		return 0
	}
	if data := r.content.mem.Load(); data != nil {
		return int64(len(*data))
	}
	return 0
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

// residentSize is how many of the asset's bytes are held in memory.
func (a *Asset) residentSize() int64 {
	n := a.Identity.residentSize()
	for _, v := range a.Variants() {
		n += v.residentSize()
	}
	return n
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
	sum := sha256.Sum256(data)
	return tagOf(sum[:], coding)
}

// tagOf is tag for a SHA-256 sum already computed.
func tagOf(sum []byte, coding string) string {
	if coding == "" {
		return digestOf(sum)
	}
	return digestOf(sum) + "." + coding
}

// digest names data by content. 144 bits of SHA-256 make an accidental
// clash between two versions of a site practically impossible, while keeping
// the tag short enough for every response header.
func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return digestOf(sum[:])
}

func digestOf(sum []byte) string {
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
