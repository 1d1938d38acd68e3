package compress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"
)

// takeSidecar offers the sidecar beside j's asset in j's coding, if there
// is one and it decodes to exactly the asset's bytes; it reports whether
// it did, in r. Sidecars from other tools, or from an older build, are
// trusted only this way: checked in one pass that neither holds what they
// decode to nor, beyond the memory budget, the sidecar itself; or, where
// the stream carries evidence of what it decodes to (evidenceIn) and
// the sidecar is for serving, not for a manifest, taken on it at once and
// checked in full later. Either way, whoever waits for the asset's
// sidecars (Asset.Arriving) learns of this one's outcome at once.
func (s *Store) takeSidecar(j encodeJob, r *VariantReport) bool {
	a := j.asset
	defer a.arrive(j.bit)
	info := j.snap.sidecars[a.Path][j.coding.Name]
	if info == nil || a.badSidecar.Load()&j.bit != 0 {
		return false
	}
	name := a.Path + j.coding.Suffix
	rep, how, err := s.checkSidecar(j, name, info)
	if err != nil {
		s.log.Warn("stale or corrupt sidecar ignored; encoding afresh", "path", name, "err", err)
		return false
	}
	r.Source, r.Size, r.Kept = how, rep.Size, rep.Size < a.Identity.Size
	if !r.Kept {
		rep.release()
	} else if !a.addVariant(rep) {
		return true // the file was replaced meanwhile
	}
	if s.cfg.WriteSidecars != nil {
		if err := s.recordSidecar(j, info, rep.Tag, r.Kept); err != nil {
			r.Err = err
			s.log.Error("cannot record sidecar", "path", name, "err", err)
		}
	}
	return true
}

// recordSidecar records in the manifest a sidecar found in place, or
// removes it when it does not pay, as storeSidecar does for one it wrote.
func (s *Store) recordSidecar(j encodeJob, info fs.FileInfo, t string, kept bool) error {
	if !kept {
		return s.storeSidecar(j, nil, "", false)
	}
	srcInfo, err := s.cfg.WriteSidecars.Stat(j.asset.Path)
	if err != nil {
		return err
	}
	s.recordVariant(j.snap.manifest, j.asset, srcInfo, j.key(), &manifestVariant{fileStamp: stampOf(info, t)})
	return nil
}

// checkSidecar makes the representation of a sidecar that decodes to j's
// asset; how says on what grounds it was taken. It reads the sidecar
// once: hashing it for its tag, and decoding it unless it carries
// evidence; a small one is kept in memory as it passes, a larger one
// stays on disk until its first use.
func (s *Store) checkSidecar(j encodeJob, name string, info fs.FileInfo) (rep Representation, how string, err error) {
	f, err := j.snap.fsys.Open(name)
	if err != nil {
		return Representation{}, "", err
	}
	defer f.Close()
	a, c, size := j.asset, j.coding, info.Size()
	var decode *Coding
	var plain io.ReadCloser
	if ra, ok := f.(io.ReaderAt); !ok || a.sums == nil || !evidenceIn(ra, c.Name, size, a.Identity.Size, a.sums) {
		if plain, err = a.Identity.open(); err != nil {
			return Representation{}, "", err
		}
		defer plain.Close()
		decode = c
	}
	var held *charge
	var keep *bytes.Buffer
	if size <= residentAtScan {
		if held = s.budget.charge(size); held != nil {
			keep = bytes.NewBuffer(make([]byte, 0, size))
		}
	}
	h := sha256.New()
	if err := readVerified(f, h, keep, decode, plain); err != nil {
		held.release()
		return Representation{}, "", err
	}
	t := tagOf(h.Sum(nil), c.Name)
	if held != nil {
		rep = Representation{Coding: c.Name, Tag: t, Size: size, content: inMemory(keep.Bytes(), held)}
	} else {
		rep = onDisk(j.snap.fsys, name, c.Name, t, stampOf(info, ""), s.budget)
	}
	rep.content.onBad = func() { s.repair(a, j.bit, t) }
	if decode != nil {
		return rep, "sidecar", nil
	}
	rep.content.decodesTo = &decodeCheck{coding: c, source: &a.Identity}
	return rep, "sidecar, checked later", nil
}

// verifiedDeltaSidecar returns the delta sidecar for j if it decodes, with
// j's dictionary, to exactly src.
func (s *Store) verifiedDeltaSidecar(j encodeJob, src []byte) ([]byte, bool) {
	if j.snap.sidecars[j.asset.Path][j.sidecarKey()] == nil {
		return nil, false
	}
	name := j.asset.Path + j.suffix()
	enc, err := fs.ReadFile(j.snap.fsys, name)
	if err == nil {
		err = j.verify(enc, src)
	}
	if err != nil {
		s.log.Warn("stale or corrupt sidecar ignored; encoding afresh", "path", name, "err", err)
		return nil, false
	}
	return enc, true
}

// storeSidecar writes (or, when the encoding did not pay, removes) the
// sidecar and records it in the manifest; t is the tag keepBytes gave out.
func (s *Store) storeSidecar(j encodeJob, out []byte, t string, kept bool) error {
	root, name := s.cfg.WriteSidecars, j.asset.Path+j.suffix()
	srcInfo, err := root.Stat(j.asset.Path)
	if err != nil {
		return err
	}
	v := &manifestVariant{NotSmaller: !kept}
	if kept {
		if err := writeAtomic(root, name, out, srcInfo.Mode().Perm()); err != nil {
			return err
		}
		info, err := root.Stat(name)
		if err != nil {
			return err
		}
		v.fileStamp = stampOf(info, t)
	} else if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s.recordVariant(j.snap.manifest, j.asset, srcInfo, j.key(), v)
	return nil
}

func (s *Store) recordVariant(man *manifest, a *Asset, srcInfo fs.FileInfo, coding string, v *manifestVariant) {
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	e := man.Files[a.Path]
	if e == nil || e.Tag != a.Identity.Tag || !e.matches(srcInfo) {
		e = &manifestEntry{fileStamp: stampOf(srcInfo, a.Identity.Tag), Variants: map[string]*manifestVariant{}}
		man.Files[a.Path] = e
	}
	e.Variants[coding] = v
}

// writeManifest records the current state, dropping files that are gone.
func (s *Store) writeManifest() error {
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	snap := s.Snapshot()
	for name := range snap.manifest.Files {
		if _, ok := snap.Lookup(name); !ok {
			delete(snap.manifest.Files, name)
		}
	}
	data := snap.manifest.marshal()
	if old, err := fs.ReadFile(snap.fsys, ManifestName); err == nil && string(old) == string(data) {
		return nil // nothing changed: rewrite nothing
	}
	return writeAtomic(s.cfg.WriteSidecars, ManifestName, data, 0o644)
}

// writeAtomic replaces name under root with data: a reader sees the old
// file or the new one, never a part. The temporary file is a dotfile, so
// even one left behind by a crash is never served.
func writeAtomic(root *os.Root, name string, data []byte, perm fs.FileMode) error {
	dir, base := path.Split(name)
	tmp := dir + "." + base + ".tmp-" + fmt.Sprint(time.Now().UnixNano())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		root.Remove(tmp)
		return err
	}
	if err := root.Rename(tmp, name); err != nil {
		root.Remove(tmp)
		return err
	}
	return nil
}

// The parts of a job that differ between a coding and a delta.

// cost ranks jobs: sidecars to check before anything to encode, the
// densest coding first (it is what clients prefer, and a cold start
// waits for it); then cheap codings first; deltas after every plain
// coding, so that they never hold up the variants every client can use,
// and dcz before the slow dcb.
func (j encodeJob) cost() int {
	switch {
	case j.dict == nil && j.snap.sidecars[j.asset.Path][j.coding.Name] != nil && j.asset.badSidecar.Load()&j.bit == 0:
		return -j.coding.cost
	case j.dict == nil:
		return j.coding.cost
	case j.delta == DeltaZstd:
		return 4
	}
	return 5
}

// id names j's delta; only for a delta job.
func (j encodeJob) id() deltaID { return deltaID{j.delta, j.dict.hash} }

// codingName is the Content-Encoding of j's output.
func (j encodeJob) codingName() string {
	if j.dict != nil {
		return j.delta
	}
	return j.coding.Name
}

// key names j's output among its file's variants in the manifest.
func (j encodeJob) key() string {
	if j.dict != nil {
		return j.id().key()
	}
	return j.coding.Name
}

// suffix is what j's sidecar adds to its file's name.
func (j encodeJob) suffix() string {
	if j.dict != nil {
		return j.id().suffix()
	}
	return j.coding.Suffix
}

// sidecarKey is j's key in Snapshot.sidecars.
func (j encodeJob) sidecarKey() string {
	if j.dict != nil {
		return j.id().sidecarKey()
	}
	return j.coding.Name
}

func (j encodeJob) encode(ctx context.Context, src []byte) ([]byte, error) {
	if j.dict == nil {
		return j.coding.Encode(ctx, src)
	}
	dict, err := j.dict.bytes.Bytes()
	if err != nil {
		return nil, fmt.Errorf("read dictionary: %w", err)
	}
	return EncodeDelta(ctx, j.delta, dict, src)
}

// verify checks that enc decodes to exactly src.
func (j encodeJob) verify(enc, src []byte) error {
	var plain []byte
	var err error
	if j.dict == nil {
		plain, err = j.coding.Decode(enc, int64(len(src)))
	} else {
		var dict []byte
		if dict, err = j.dict.bytes.Bytes(); err == nil {
			plain, err = DecodeDelta(j.delta, enc, dict, int64(len(src)))
		}
	}
	if err == nil && string(plain) != string(src) {
		err = errors.New("decodes to other bytes than the file")
	}
	return err
}
