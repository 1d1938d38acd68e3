package server

import (
	"net/http"
	"strings"
	"time"
)

// etagMatch reports whether the entity-tag list in header names etag (a
// quoted strong tag). Weak comparison ignores a "W/" prefix, as If-None-Match
// requires; strong comparison, for If-Match and If-Range, never matches a
// weak tag (RFC 9110 §8.8.3.2). "*" matches any current representation.
// Parsing stops at the first malformed element.
func etagMatch(header, etag string, weak bool) bool {
	for {
		header = strings.TrimLeft(header, " \t,")
		if header == "" {
			return false
		}
		if header[0] == '*' {
			return true
		}
		isWeak := strings.HasPrefix(header, "W/")
		if isWeak {
			header = header[2:]
		}
		if header == "" || header[0] != '"' {
			return false
		}
		end := strings.IndexByte(header[1:], '"')
		if end < 0 {
			return false
		}
		tag := header[:end+2]
		header = header[end+2:]
		if tag == etag && (weak || !isWeak) {
			return true
		}
	}
}

// notModifiedSince reports whether a resource last changed at mod is
// unchanged since the HTTP date in header. ok is false when the date does
// not parse, in which case the condition is ignored (RFC 9110 §13.1.3).
func notModifiedSince(header string, mod time.Time) (unchanged, ok bool) {
	t, err := http.ParseTime(header)
	if err != nil {
		return false, false
	}
	return !mod.Truncate(time.Second).After(t), true
}

// condResult is what the preconditions of a request decide.
type condResult int

const (
	condNone        condResult = iota // go on and send the representation
	condNotModified                   // 304
	condFailed                        // 412
)

// first is h.Get for a key already in canonical form, which Get would
// canonicalize again on every request.
func first(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// checkPreconditions evaluates the conditional headers of a GET or HEAD
// against the selected representation, in the order of RFC 9110 §13.2.2.
func checkPreconditions(h http.Header, etag string, mod time.Time) condResult {
	if v := first(h, "If-Match"); v != "" {
		if !etagMatch(v, etag, false) {
			return condFailed
		}
	} else if v := first(h, "If-Unmodified-Since"); v != "" {
		if unchanged, ok := notModifiedSince(v, mod); ok && !unchanged {
			return condFailed
		}
	}
	if v := first(h, "If-None-Match"); v != "" {
		if etagMatch(v, etag, true) {
			return condNotModified
		}
	} else if v := first(h, "If-Modified-Since"); v != "" {
		if unchanged, ok := notModifiedSince(v, mod); ok && unchanged {
			return condNotModified
		}
	}
	return condNone
}

// writeNotModified answers a revalidation that matched with what a cache
// needs to refresh its copy, and nothing that describes a body (RFC 9110
// §15.4.5): the ETag, Cache-Control, Vary (already set) and the headers
// of the rules, which a browser merges into its stored response. No
// Last-Modified, since there is an ETag; no Link or Early Hints, since
// the browser has the page.
func writeNotModified(w http.ResponseWriter, ah *assetHeaders, rh *repHeaders) {
	h := w.Header()
	h["Etag"] = rh.etag
	h["Cache-Control"] = ah.cacheControl
	setRuleHeaders(h, ah)
	w.WriteHeader(http.StatusNotModified)
}

// rangeApplies evaluates If-Range (RFC 9110 §13.1.5): a Range is honoured
// only if the validator still names the selected representation; an entity
// tag must match strongly, a date must equal Last-Modified exactly.
func rangeApplies(h http.Header, etag string, mod time.Time) bool {
	v := first(h, "If-Range")
	if v == "" {
		return true
	}
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		return etagMatch(v, etag, false)
	}
	t, err := http.ParseTime(v)
	return err == nil && t.Equal(mod.Truncate(time.Second))
}
