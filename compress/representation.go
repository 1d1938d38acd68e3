package compress

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Representation is one complete byte sequence that stands for one version
// of a file: the file itself (Coding "") or one encoding of it. Its bytes
// are in memory, or on disk (the site's own file, a sidecar a manifest
// vouches for, or a variant spilled to the cache directory) when the
// memory budget is spent; Body tells which.
type Representation struct {
	Coding string
	// Tag names the bytes exactly (see tag). It comes from the bytes
	// alone, so it is the same after a restart or on another machine,
	// which lets browsers revalidate (and V8 keep its compiled-wasm
	// cache) across deploys that did not change the file.
	Tag     string
	Size    int64
	content *content
}

// InMemory makes a representation of bytes already in memory, outside
// any memory budget.
func InMemory(coding string, data []byte) Representation {
	c := &content{}
	c.mem.Store(&data)
	return Representation{Coding: coding, Tag: tag(data, coding), Size: int64(len(data)), content: c}
}

// Body returns the bytes to send: in memory, or else an open file of
// exactly Size bytes, which the caller closes (and which a server can hand
// to sendfile). Bytes taken on trust, from a manifest or on a sidecar's
// own evidence (see evidenceIn), are served at once, so that a cold
// start answers without reading them first; checkDelay after their first
// use they are checked in the background, and kept in memory if the
// budget allows. An error means the bytes are not the ones Tag names; the
// representation must not be served, and its asset no longer offers it.
func (r *Representation) Body() ([]byte, fs.File, error) {
	c := r.content
	if c == nil {
		return nil, nil, nil
	}
	if err := c.bad.Load(); err != nil {
		return nil, nil, *err
	}
	if c.unchecked() && !c.checkStarted.Load() && c.checkStarted.CompareAndSwap(false, true) {
		time.AfterFunc(checkDelay, func() { c.checkOnce.Do(c.check) })
	}
	if data := c.mem.Load(); data != nil {
		return *data, nil, nil
	}
	f, err := c.disk.Load().open()
	return nil, f, err
}

// Sealed returns a sealed file that holds exactly the representation's
// bytes, for sendfile, or nil. Bytes in memory of at least sealFrom are
// copied into one the first time a server asks, in the background, so
// that neither a cold start nor the first responses wait for it; the copy
// is charged to the memory budget and made only if the budget has room.
// The caller neither closes the file nor keeps it: it is closed once the
// representation is released, and its Control keeps it open for as long
// as one call lasts, failing once it is closed.
func (r *Representation) Sealed() syscall.RawConn {
	c := r.content
	if c == nil || r.Size < sealFrom {
		return nil
	}
	if s := c.sealed.Load(); s != nil {
		return s.raw
	}
	if canSeal && c.budget != nil && c.mem.Load() != nil && c.sealStarted.CompareAndSwap(false, true) {
		go c.seal()
	}
	return nil
}

// sealFrom is the smallest representation worth a sealed copy. Sending a
// head and then sendfile costs a system call more than one writev from
// memory; on loopback it gained 4 % for 64 KiB bodies, about nothing for
// 16 KiB, and 22-28 % for a 463 KB wasm.
const sealFrom = 64 << 10

// sealedFile is a sealed copy of a content's bytes and its charge.
type sealedFile struct {
	file *os.File
	raw  syscall.RawConn
	held *charge
}

// seal makes the sealed copy of bytes in memory that count against a
// budget, if the budget has room for it.
func (c *content) seal() {
	data := c.mem.Load()
	if sealedOpen.Add(1) > maxSealed {
		sealedOpen.Add(-1)
		return
	}
	held := c.budget.charge(int64(len(*data)))
	if held == nil {
		sealedOpen.Add(-1)
		return
	}
	s := &sealedFile{held: held}
	var err error
	if s.file, err = sealedCopy(*data); err == nil {
		s.raw, err = s.file.SyscallConn()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || c.released {
		s.close()
		return
	}
	c.sealed.Store(s)
}

func (s *sealedFile) close() {
	if s.file != nil {
		s.file.Close()
	}
	s.held.release()
	sealedOpen.Add(-1)
}

// sealedOpen counts the sealed copies open, each a file descriptor held
// for as long as its representation lives. maxSealed bounds them well
// below the descriptors a process may open, whatever the budget, so that
// they never starve the listener of descriptors for connections.
var sealedOpen atomic.Int64

const maxSealed = 1024

// checkDelay is how long bytes taken on trust are served before their
// background check. Reading and hashing a large wasm at once competes with
// the rest of a cold start's first page load: on one CPU, the first 4 MB
// response of a cold start took 32 ms to its last byte with the check
// started at once, 24 ms with it a second later.
var checkDelay = time.Second

// Bytes returns the representation's bytes, checked, reading them from
// disk if they are not in memory (the encoders need them whole).
func (r *Representation) Bytes() ([]byte, error) {
	if c := r.content; c != nil && c.unchecked() {
		c.checkOnce.Do(c.check)
	}
	data, f, err := r.Body()
	if f == nil || err != nil {
		return data, err
	}
	defer f.Close()
	return readExactly(f, r.Size)
}

// open returns a reader of the representation's bytes.
func (r *Representation) open() (io.ReadCloser, error) {
	data, f, err := r.Body()
	switch {
	case err != nil:
		return nil, err
	case f != nil:
		return f, nil
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// readExactly reads a file that should hold size bytes in one buffer of
// that size, rather than growing one as io.ReadAll does: on a cold start
// every page of fresh memory costs, and a doubling buffer touches twice
// as many. A file that holds more is read whole all the same.
func readExactly(r io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, size+1) // the spare byte tells a file that grew
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return buf[:n], nil
	case err != nil:
		return nil, err
	}
	rest, err := io.ReadAll(r)
	return append(buf, rest...), err
}

// release gives the representation's memory back to the budget and lets
// go of its spilled file; a representation is released once its asset is
// replaced.
func (r *Representation) release() {
	if r.content != nil {
		r.content.release()
	}
}

// content is bytes in memory (mem), or on disk (disk) unless and until
// check has verified them and the budget let them into memory.
type content struct {
	mem  atomic.Pointer[[]byte]
	bad  atomic.Pointer[error]
	disk atomic.Pointer[diskFile] // nil for bytes that only exist in memory
	// want is the tag that bytes a manifest vouches for must have; they
	// are checked against it once, in the background. It is empty for
	// bytes the store read, hashed or wrote itself.
	want string
	// decodesTo is set for a sidecar taken on its evidence: the check
	// decodes it and compares the result with these bytes.
	decodesTo *decodeCheck
	// onBad, if set, runs once a check finds the bytes are not what
	// they were taken for.
	onBad  func()
	coding string
	// budget is what the bytes in memory, and their sealed copy, are
	// charged to; nil for bytes outside any budget (InMemory).
	budget       *budget
	checkStarted atomic.Bool
	checkOnce    sync.Once
	// sealed holds the bytes of mem a second time, for sendfile (see
	// Representation.Sealed).
	sealed      atomic.Pointer[sealedFile]
	sealStarted atomic.Bool

	mu       sync.Mutex
	held     *charge // the budget charge for mem, if any
	released bool
	// spilled is the file of the store's cache directory that holds the
	// bytes, if any; it is removed once the content is released.
	spilled *spilledFile
}

// inMemory makes content of bytes in memory, charged to a budget.
func inMemory(data []byte, held *charge) *content {
	c := &content{held: held}
	if held != nil {
		c.budget = held.budget
	}
	c.mem.Store(&data)
	return c
}

// onDisk makes a representation whose bytes stay in fsys until first use,
// when they are checked against the size and tag the manifest recorded.
func onDisk(fsys fs.FS, name, coding, want string, stamp fileStamp, b *budget) Representation {
	c := &content{want: want, coding: coding, budget: b}
	c.disk.Store(&diskFile{fsys: fsys, name: name, stamp: stamp})
	return Representation{Coding: coding, Tag: want, Size: stamp.Size, content: c}
}

// verifiedOnDisk makes a representation of bytes the store has just
// hashed or written itself, kept on disk because the budget is spent.
func verifiedOnDisk(fsys fs.FS, name, coding, tag string, stamp fileStamp) Representation {
	c := &content{}
	c.disk.Store(&diskFile{fsys: fsys, name: name, stamp: stamp})
	return Representation{Coding: coding, Tag: tag, Size: stamp.Size, content: c}
}

// keep moves checked bytes into memory under the charge taken for them,
// unless the content was released meanwhile.
func (c *content) keep(data []byte, held *charge) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		held.release()
		return
	}
	c.held = held
	c.mem.Store(&data)
}

// spillGrace is how long a spilled file outlives its release: a request
// that picked the representation just before the release still opens it.
var spillGrace = 30 * time.Second

func (c *content) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return
	}
	c.released = true
	c.held.release()
	if s := c.sealed.Swap(nil); s != nil {
		s.close()
	}
	if f := c.spilled; f != nil {
		time.AfterFunc(spillGrace, f.remove)
	}
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

// decodeCheck is what a sidecar taken on evidence must decode to.
type decodeCheck struct {
	coding *Coding
	source *Representation
}

// unchecked reports bytes taken on trust whose check is due.
func (c *content) unchecked() bool { return c.want != "" || c.decodesTo != nil }

// check runs once for bytes taken on trust: it reads them once, checks
// them against the tag the manifest recorded (a sidecar may have been
// damaged with its size and mtime intact) or decodes them against the
// source (a sidecar taken on evidence), and keeps them in memory when the
// budget has room.
func (c *content) check() {
	var held *charge
	var keep *bytes.Buffer
	var in io.Reader
	if data := c.mem.Load(); data != nil {
		in = bytes.NewReader(*data)
	} else {
		f, err := c.disk.Load().open()
		if err != nil {
			c.fail(err)
			return
		}
		defer f.Close()
		in = f
		if held = c.budget.charge(c.disk.Load().stamp.Size); held != nil {
			keep = bytes.NewBuffer(make([]byte, 0, c.disk.Load().stamp.Size))
		}
	}
	var h hash.Hash
	if c.want != "" {
		h = sha256.New()
	}
	var plain io.ReadCloser
	var codec *Coding
	if d := c.decodesTo; d != nil {
		var err error
		if plain, err = d.source.open(); err != nil {
			held.release()
			c.fail(fmt.Errorf("read the source: %w", err))
			return
		}
		defer plain.Close()
		codec = d.coding
	}
	err := readVerified(in, h, keep, codec, plain)
	if err == nil && h != nil && tagOf(h.Sum(nil), c.coding) != c.want {
		err = errors.New("changed on disk since it was indexed")
	}
	if err != nil {
		held.release()
		c.fail(err)
		return
	}
	if keep != nil {
		c.keep(keep.Bytes(), held)
	}
}

// fail takes the bytes out of service.
func (c *content) fail(err error) {
	if d := c.disk.Load(); d != nil {
		err = fmt.Errorf("%s: %w", d.name, err)
	}
	c.bad.Store(&err)
	if c.onBad != nil {
		c.onBad()
	}
}

// tag names one representation's bytes: a digest of them, plus the
// coding's name for encodings so that tags are readable in a browser's
// network panel.
func tag(data []byte, coding string) string {
	sum := sha256.Sum256(data)
	return tagOf(sum[:], coding)
}

// tagOf is tag for a SHA-256 sum already computed. 144 bits of SHA-256
// make an accidental clash between two versions of a site practically
// impossible, while keeping the tag short enough for every response
// header.
func tagOf(sum []byte, coding string) string {
	digest := base64.RawURLEncoding.EncodeToString(sum[:18])
	if coding == "" {
		return digest
	}
	return digest + "." + coding
}
