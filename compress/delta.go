package compress

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Delta is a representation of an asset encoded against an earlier
// version of it, the dictionary: what a returning visitor who has that
// version downloads (RFC 9842). Coding is DeltaCoding.
type Delta struct {
	Representation
	// Dictionary is the SHA-256 of the dictionary's bytes, which a
	// client names in Available-Dictionary.
	Dictionary [sha256.Size]byte
}

// Deltas returns the deltas finished so far. The slice is shared and
// must not be modified.
func (a *Asset) Deltas() []Delta {
	if d := a.deltas.Load(); d != nil {
		return *d
	}
	return nil
}

// Delta returns the delta against the dictionary whose SHA-256 is dict,
// or nil. It allocates nothing: a server calls it per request.
func (a *Asset) Delta(dict *[sha256.Size]byte) *Delta {
	ds := a.Deltas()
	for i := range ds {
		if ds[i].Dictionary == *dict {
			return &ds[i]
		}
	}
	return nil
}

// addDelta publishes d as addVariant publishes a variant; a second delta
// against the same dictionary is not added.
func (a *Asset) addDelta(d Delta) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.retired || a.Delta(&d.Dictionary) != nil {
		d.release()
		return false
	}
	next := append(append([]Delta(nil), a.Deltas()...), d)
	a.deltas.Store(&next)
	return true
}

// claimDelta marks a delta against dict as being made, unless it exists,
// is being made, or did not pay.
func (a *Asset) claimDelta(dict [sha256.Size]byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.deltaClaims[dict] || a.deltaDropped[dict] || a.Delta(&dict) != nil {
		return false
	}
	if a.deltaClaims == nil {
		a.deltaClaims = map[[sha256.Size]byte]bool{}
	}
	a.deltaClaims[dict] = true
	return true
}

// unclaimDelta ends a claim; dropped records that the delta did not pay
// (not smaller than the file, or the file too large for a dcz window), so
// that no later run tries again.
func (a *Asset) unclaimDelta(dict [sha256.Size]byte, dropped bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.deltaClaims, dict)
	if dropped {
		if a.deltaDropped == nil {
			a.deltaDropped = map[[sha256.Size]byte]bool{}
		}
		a.deltaDropped[dict] = true
	}
}

// deltaKey is how the manifest names a delta among a file's variants:
// the coding and the dictionary's full SHA-256 in hex.
func deltaKey(dict [sha256.Size]byte) string {
	return DeltaCoding + ":" + hex.EncodeToString(dict[:])
}

// parseDeltaKey reverses deltaKey.
func parseDeltaKey(key string) (dict [sha256.Size]byte, ok bool) {
	h, ok := strings.CutPrefix(key, DeltaCoding+":")
	if !ok || len(h) != 2*sha256.Size {
		return dict, false
	}
	_, err := hex.Decode(dict[:], []byte(h))
	return dict, err == nil
}

// deltaSidecarSuffix is what a delta sidecar adds to its file's name: the
// first 8 bytes of the dictionary's SHA-256 in hex, and ".dcz"
// (app-1234_bg.wasm.89abcdef01234567.dcz). The manifest holds the full
// digest.
func deltaSidecarSuffix(dict [sha256.Size]byte) string {
	return "." + hex.EncodeToString(dict[:8]) + "." + DeltaCoding
}

// cutDeltaSidecar recognises a delta sidecar's name, returning its
// file's name and the sidecar key (the coding and the short digest).
func cutDeltaSidecar(name string) (src, key string, ok bool) {
	rest, ok := strings.CutSuffix(name, "."+DeltaCoding)
	if !ok || len(rest) < 17 || rest[len(rest)-17] != '.' || !allBytes(rest[len(rest)-16:], isLowerHex) {
		return "", "", false
	}
	return rest[:len(rest)-17], DeltaCoding + ":" + rest[len(rest)-16:], true
}

// sidecarKey is the key of a delta's sidecar in Snapshot.sidecars.
func sidecarKey(dict [sha256.Size]byte) string {
	return DeltaCoding + ":" + hex.EncodeToString(dict[:8])
}
