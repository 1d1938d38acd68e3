package compress

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// Delta is a representation of an asset encoded against an earlier
// version of it, the dictionary: what a returning visitor who has that
// version downloads (RFC 9842). Coding is DeltaZstd or DeltaBrotli.
type Delta struct {
	Representation
	// Dictionary is the SHA-256 of the dictionary's bytes, which a
	// client names in Available-Dictionary.
	Dictionary [sha256.Size]byte
}

// deltaID names one delta of an asset: its coding and dictionary.
type deltaID struct {
	coding string
	dict   [sha256.Size]byte
}

// Deltas returns the deltas finished so far. The slice is shared and
// must not be modified.
func (a *Asset) Deltas() []Delta {
	if d := a.deltas.Load(); d != nil {
		return *d
	}
	return nil
}

// Delta returns the delta in coding against the dictionary whose SHA-256
// is dict, or nil.
func (a *Asset) Delta(coding string, dict *[sha256.Size]byte) *Delta {
	ds := a.Deltas()
	for i := range ds {
		if ds[i].Dictionary == *dict && ds[i].Coding == coding {
			return &ds[i]
		}
	}
	return nil
}

// addDelta publishes d as addVariant publishes a variant, smallest
// first; a second delta of the same coding and dictionary is not added.
func (a *Asset) addDelta(d Delta) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.retired || a.Delta(d.Coding, &d.Dictionary) != nil {
		d.release()
		return false
	}
	next := append(append([]Delta(nil), a.Deltas()...), d)
	slices.SortStableFunc(next, func(x, y Delta) int { return cmp.Compare(x.Size, y.Size) })
	a.deltas.Store(&next)
	return true
}

// claimDelta marks a delta as being made, unless it exists, is being
// made, or did not pay.
func (a *Asset) claimDelta(id deltaID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.deltaClaims[id] || a.deltaDropped[id] || a.Delta(id.coding, &id.dict) != nil {
		return false
	}
	if a.deltaClaims == nil {
		a.deltaClaims = map[deltaID]bool{}
	}
	a.deltaClaims[id] = true
	return true
}

// unclaimDelta ends a claim; dropped records that the delta did not pay
// (not smaller than the file, or the file too large for a dcz window), so
// that no later run tries again.
func (a *Asset) unclaimDelta(id deltaID, dropped bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.deltaClaims, id)
	if dropped {
		if a.deltaDropped == nil {
			a.deltaDropped = map[deltaID]bool{}
		}
		a.deltaDropped[id] = true
	}
}

// key is how the manifest names a delta among a file's variants: the
// coding and the dictionary's full SHA-256 in hex.
func (id deltaID) key() string { return id.coding + ":" + hex.EncodeToString(id.dict[:]) }

// parseDeltaKey reverses deltaID.key.
func parseDeltaKey(key string) (id deltaID, ok bool) {
	coding, h, _ := strings.Cut(key, ":")
	if coding != DeltaZstd && coding != DeltaBrotli || len(h) != 2*sha256.Size {
		return id, false
	}
	_, err := hex.Decode(id.dict[:], []byte(h))
	id.coding = coding
	return id, err == nil
}

// suffix is what a delta sidecar adds to its file's name: the first 8
// bytes of the dictionary's SHA-256 in hex, and the coding
// (app-1234_bg.wasm.89abcdef01234567.dcz). The manifest holds the full
// digest.
func (id deltaID) suffix() string { return "." + hex.EncodeToString(id.dict[:8]) + "." + id.coding }

// sidecarKey is the key of a delta's sidecar in Snapshot.sidecars.
func (id deltaID) sidecarKey() string { return id.coding + ":" + hex.EncodeToString(id.dict[:8]) }

// cutDeltaSidecar recognises a delta sidecar's name, returning its
// file's name and its sidecar key.
func cutDeltaSidecar(name string) (src, key string, ok bool) {
	for _, coding := range []string{DeltaZstd, DeltaBrotli} {
		rest, ok := strings.CutSuffix(name, "."+coding)
		if ok && len(rest) >= 17 && rest[len(rest)-17] == '.' && allBytes(rest[len(rest)-16:], isLowerHex) {
			return rest[:len(rest)-17], coding + ":" + rest[len(rest)-16:], true
		}
	}
	return "", "", false
}
