package server

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"path"
	"strings"

	"github.com/brisk-server/brisk/compress"
)

// Compression Dictionary Transport (RFC 9842): a hashed bundle is marked
// as a dictionary for the next versions of itself, and a client that
// kept it names it by SHA-256 in Available-Dictionary; if brisk has a
// delta of the requested version against exactly that dictionary, it
// sends the delta (Content-Encoding: dcz).

var valAvailableDictionary = []string{"Accept-Encoding, Available-Dictionary"}

// useAsDictionary returns the Use-As-Dictionary value for the asset at
// name, or nil: only a hashed name (whose next version has another name
// of the same shape) served with immutable caching is worth keeping as a
// dictionary, and browsers use only dictionaries that are still fresh.
// The match pattern is the name with its hash as a wildcard, under the
// base path: /pkg/app-*_bg.wasm. Names with characters that URL patterns
// or structured fields treat specially are left out rather than escaped.
func useAsDictionary(name, base, cacheControl string) []string {
	dir, file := path.Split(name)
	prefix, suffix, ok := compress.HashedName(file)
	if !ok || !immutable(cacheControl) {
		return nil
	}
	pattern := base + dir + prefix + "*" + suffix
	for i := range len(pattern) {
		if c := pattern[i]; !isAlnumASCII(c) && !strings.ContainsRune("-._~/*", rune(c)) {
			return nil
		}
	}
	return []string{`match="` + pattern + `"`}
}

func isAlnumASCII(c byte) bool { return isASCIILetter(c) || '0' <= c && c <= '9' }

// chooseDelta returns the delta to send instead of rep, or nil: the
// client must name the delta's coding itself (never through "*") with a
// q-value at least rep's, send exactly one Available-Dictionary that
// parses, ask from a context where a delta reveals nothing it could not
// read anyway, and the delta must be smaller than rep (rep is nil when
// nothing else is acceptable). Of dcb and dcz, the higher q-value wins,
// then the smaller.
func chooseDelta(r *http.Request, deltas []compress.Delta, rep *compress.Representation) *compress.Delta {
	dict, ok := parseAvailableDictionary(r.Header["Available-Dictionary"])
	if !ok || !dictionaryAllowed(r.Header) {
		return nil
	}
	accepted := accepting(r.Header["Accept-Encoding"])
	floor := rankRefused + 1
	if rep != nil {
		floor = max(floor, accepted.rankOf(rep.Coding))
	}
	var best *compress.Delta
	for i := range deltas { // smallest first: a later one must beat, not tie
		d := &deltas[i]
		if d.Dictionary != dict || rep != nil && d.Size >= rep.Size {
			continue
		}
		if w := accepted.weigh(d.Coding); w.named && w.rank >= floor {
			best, floor = d, w.rank+1
		}
	}
	return best
}

// parseAvailableDictionary reads the one Available-Dictionary field: a
// structured-field byte sequence (":" base64 ":") of a SHA-256. Several
// fields, several values, another length or bad base64 mean none: the
// server must never guess which dictionary the client has.
func parseAvailableDictionary(lines []string) (sum [sha256.Size]byte, ok bool) {
	if len(lines) != 1 {
		return sum, false
	}
	v := strings.Trim(lines[0], " \t")
	if len(v) < 2 || v[0] != ':' || v[len(v)-1] != ':' {
		return sum, false
	}
	return sum, decodeBase64Sum(v[1:len(v)-1], &sum)
}

// Strict refuses non-zero padding bits: a byte sequence has one encoding.
var (
	base64Padded   = base64.StdEncoding.Strict()
	base64Unpadded = base64.RawStdEncoding.Strict()
)

// decodeBase64Sum decodes the standard base64 of exactly 32 bytes (43
// characters, with or without the one "=" of padding) into sum, without
// allocating: it runs on requests.
func decodeBase64Sum(s string, sum *[sha256.Size]byte) bool {
	enc := base64Unpadded
	switch len(s) {
	case 43:
	case 44:
		enc = base64Padded
	default:
		return false
	}
	var src [44]byte
	var dst [33]byte // room for what 44 characters could hold
	n, err := enc.Decode(dst[:], src[:copy(src[:], s)])
	if err != nil || n != sha256.Size {
		return false
	}
	*sum = [sha256.Size]byte(dst[:sha256.Size])
	return true
}

// dictionaryAllowed is RFC 9842 §9.3.3's check of the request's fetch
// metadata: false for a cross-origin request whose response the page
// could not read, where the size of a delta could leak what a dictionary
// holds. brisk sends no Access-Control-Allow-Origin, so a cross-origin
// CORS request is refused too.
func dictionaryAllowed(h http.Header) bool {
	site := h["Sec-Fetch-Site"]
	if len(site) == 0 || site[0] == "same-origin" {
		return true
	}
	mode := h["Sec-Fetch-Mode"]
	return len(mode) == 0 || mode[0] == "navigate" || mode[0] == "same-origin"
}
