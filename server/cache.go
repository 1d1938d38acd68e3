package server

import (
	"log/slog"
	"path"
	"strings"

	"github.com/brisk-server/brisk/compress"
)

// Cache-Control values brisk uses.
const (
	// ImmutableCacheControl is for files whose name changes with their
	// content: a browser may keep them for a year without asking.
	ImmutableCacheControl = "public, max-age=31536000, immutable"
	// DefaultCacheControl makes browsers revalidate every time. With
	// strong ETags a revalidation is a cheap 304, and a deploy is visible
	// at once.
	DefaultCacheControl = "no-cache"
)

// CacheRule sets Cache-Control for files whose path matches Pattern
// (path.Match syntax; a pattern without "/" is matched against the base
// name, so "*.wasm" means every wasm file).
type CacheRule struct {
	Pattern, Value string
}

// CachePolicy decides Cache-Control per file: the first matching rule
// wins; otherwise hashed bundle names are immutable and everything else
// is revalidated.
type CachePolicy struct {
	Rules []CacheRule
	// Hashes lists content hashes from cargo-leptos' hash.txt: a name
	// that carries one of them is hashed whatever its shape.
	Hashes []string
	// Default is for files that match no rule and are not hashed, or
	// for every file when NoImmutable is set (dev mode: "no-store").
	Default     string
	NoImmutable bool
}

// For returns the Cache-Control value for the file at name.
func (p *CachePolicy) For(name string) string {
	for _, r := range p.Rules {
		if matchGlob(r.Pattern, name) {
			return r.Value
		}
	}
	if base := path.Base(name); !p.NoImmutable && p.hashed(base) {
		return ImmutableCacheControl
	}
	if p.Default == "" {
		return DefaultCacheControl
	}
	return p.Default
}

// hashed reports a content-hashed file name. HTML never is: its URL is
// what users bookmark.
func (p *CachePolicy) hashed(base string) bool {
	switch strings.ToLower(path.Ext(base)) {
	case ".html", ".htm":
		return false
	}
	if _, _, ok := compress.HashedName(base); ok {
		return true
	}
	for _, h := range p.Hashes {
		if strings.Contains(base, "."+h+".") {
			return true
		}
	}
	return false
}

// matchGlob is how per-file rules (--cache-control, --header) match a
// file: path.Match syntax, against the path under the root when the
// pattern has a "/", against the base name when it has none.
func matchGlob(pattern, name string) bool {
	target := name
	if !strings.Contains(pattern, "/") {
		target = path.Base(name)
	}
	ok, _ := path.Match(pattern, target)
	return ok
}

// cutRule splits "GLOB=REST" and checks the glob; ok is false when either
// part is empty or the glob is malformed.
func cutRule(s string) (pattern, rest string, ok bool) {
	pattern, rest, ok = strings.Cut(s, "=")
	pattern, rest = strings.TrimSpace(pattern), strings.TrimSpace(rest)
	if !ok || pattern == "" || rest == "" {
		return "", "", false
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return "", "", false
	}
	return strings.TrimPrefix(pattern, "/"), rest, true
}

// ParseCacheRule reads "GLOB=VALUE", as given to --cache-control.
func ParseCacheRule(s string) (CacheRule, error) {
	pattern, value, ok := cutRule(s)
	if !ok {
		return CacheRule{}, errBadRule(s)
	}
	return CacheRule{Pattern: pattern, Value: value}, nil
}

type errBadRule string

func (e errBadRule) Error() string {
	return "cache rule " + `"` + string(e) + `"` + ": want GLOB=VALUE, e.g. '*.wasm=public, max-age=3600'"
}

// ParseHashFile reads cargo-leptos' hash.txt ("js: <hash>" lines).
func ParseHashFile(data []byte) []string {
	var hashes []string
	for line := range strings.Lines(string(data)) {
		if _, h, ok := strings.Cut(line, ":"); ok {
			if h = strings.TrimSpace(h); h != "" {
				hashes = append(hashes, h)
			}
		}
	}
	return hashes
}

// cacheControl is a's Cache-Control. A file whose bytes changed under a
// name that promised they never would (cargo-leptos has been seen doing
// it, leptos-rs/cargo-leptos#658) is revalidated from then on: an
// immutable answer would pin the old bytes in browsers for a year.
func (s *Server) cacheControl(a *compress.Asset) string {
	v := s.cfg.Cache.For(a.Path)
	if a.Rewritten && immutable(v) {
		return DefaultCacheControl
	}
	return v
}

// RewriteWarning returns a compress.Config.Rewritten hook that warns when
// a file cached as immutable changed its bytes.
func (p *CachePolicy) RewriteWarning(log *slog.Logger) func(name string) {
	return func(name string) {
		if immutable(p.For(name)) {
			log.Warn("a file served as immutable changed its bytes; serving it with no-cache until brisk restarts",
				"path", name, "hint", "a build that reuses a hashed name for new bytes leaves browsers with the old file")
		}
	}
}

// HintUnhashedWasm says once, at start, when a site's wasm is not served
// as immutable (its name carries no hash, and no rule makes it so): such
// a file is revalidated rather than cached for good, browsers keep no
// dictionary of it, and returning visitors download all of it after
// every deploy.
func (p *CachePolicy) HintUnhashedWasm(snap *compress.Snapshot, log *slog.Logger) {
	for name := range snap.All() {
		if path.Ext(name) == ".wasm" && !immutable(p.For(name)) {
			log.Info("no hashed wasm name: browsers revalidate it and download all of it again after each deploy",
				"path", name, "hint", "cargo-leptos: hash-files = true in Cargo.toml; Trunk hashes names by default")
			return
		}
	}
}

// immutable reports a Cache-Control value with the immutable directive.
func immutable(cacheControl string) bool { return hasToken([]string{cacheControl}, "immutable") }
