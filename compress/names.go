package compress

import (
	"path"
	"strings"
)

// HashedName splits a bundle name that carries a content hash into what
// stays the same from build to build and the hash between: cargo-leptos
// hash-files writes <stem>.<22-char base64url>.<ext>, Trunk
// <name>-<16 hex>.<ext> and <crate>-<16 hex>_bg.wasm. For
// "app.0123456789abcdefABCDEF.wasm" it returns prefix "app.", suffix
// ".wasm". Names of one family (same directory, prefix and suffix) are
// versions of one file, which is what pairs a new version with the old one
// it can be a delta of. It is written out rather than a regexp so that a
// cold start does not compile one before serving.
func HashedName(base string) (prefix, suffix string, ok bool) {
	dot := strings.LastIndexByte(base, '.')
	if dot < 0 || dot == len(base)-1 || !allBytes(base[dot+1:], isAlnum) {
		return "", "", false
	}
	stem := base[:dot]
	// cargo-leptos: at least one character, '.', 22 of base64url.
	if n := len(stem); n >= 24 && stem[n-23] == '.' && allBytes(stem[n-22:], isBase64URL) {
		return stem[:n-22], base[dot:], true
	}
	// Trunk: at least one character, '-', 16 lowercase hex, maybe "_bg".
	trimmed := strings.TrimSuffix(stem, "_bg")
	n := len(trimmed)
	if n >= 18 && trimmed[n-17] == '-' && allBytes(trimmed[n-16:], isLowerHex) {
		return trimmed[:n-16], base[n:], true
	}
	return "", "", false
}

// family names the versions of a hashed file: its directory, prefix and
// suffix. ok is false for a name without a recognisable hash.
func family(name string) (string, bool) {
	dir, base := path.Split(name)
	prefix, suffix, ok := HashedName(base)
	if !ok {
		return "", false
	}
	return dir + prefix + "*" + suffix, true
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := range len(s) {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isBase64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

func isLowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }
