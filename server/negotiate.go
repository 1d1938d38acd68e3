package server

import (
	"slices"
	"strings"

	"github.com/brisk-server/brisk/compress"
)

// Ranks compare representations. A q-value of 0.001..1 maps to 2..2000, so
// that rank 1 can stand for "identity, not named by the client": acceptable,
// yet below every coding the client listed with q > 0 (RFC 9110 §12.5.3).
const (
	rankRefused          = 0
	rankImplicitIdentity = 1
)

// weight is what one Accept-Encoding header says of one coding.
type weight struct {
	named   bool // an element names the coding itself
	rank    int  // 2*q*1000 when named
	starred bool // a "*" element is present
	star    int  // the rank of "*"
}

// acceptance is what one request's Accept-Encoding lines say of the
// codings brisk sends, read in one pass: choosing among a file's
// variants asks about four codings or more, and reading the lines again
// for each took over a third of the handler's time for a page.
type acceptance struct {
	lines   []string
	named   [len(sendable)]bool // an element names the coding itself
	rank    [len(sendable)]int  // 2*q*1000 when named
	starred bool                // a "*" element is present
	star    int                 // the rank of "*"
}

// sendable are the codings brisk sends: identity, those compress makes
// and streams, and the dictionary deltas.
var sendable = [...]string{"identity", "br", "zstd", "gzip", compress.DeltaBrotli, compress.DeltaZstd}

// accepting reads lines without allocating. If a coding is named more
// than once, a refusal (q=0) anywhere wins: brisk must never send what
// the client refused.
func accepting(lines []string) acceptance {
	a := acceptance{lines: lines}
	elements(lines, func(token string, rank int) {
		if token == "*" {
			a.star = merge(a.starred, a.star, rank)
			a.starred = true
			return
		}
		for i, coding := range sendable {
			if sameCoding(token, coding) {
				a.rank[i] = merge(a.named[i], a.rank[i], rank)
				a.named[i] = true
				return
			}
		}
	})
	return a
}

// weigh is what the lines say of one coding.
func (a *acceptance) weigh(coding string) weight {
	w := weight{starred: a.starred, star: a.star}
	if i := slices.Index(sendable[:], coding); i >= 0 {
		w.named, w.rank = a.named[i], a.rank[i]
		return w
	}
	// A coding missing from sendable: read the lines for it, so that a
	// client that refused it by name is never sent it through "*".
	elements(a.lines, func(token string, rank int) {
		if sameCoding(token, coding) {
			w.rank = merge(w.named, w.rank, rank)
			w.named = true
		}
	})
	return w
}

// elements calls f with the coding token and the rank of each element
// of lines, in order, skipping empty ones.
func elements(lines []string, f func(token string, rank int)) {
	for _, line := range lines {
		for line != "" {
			var elem string
			elem, line, _ = strings.Cut(line, ",")
			token, params, _ := strings.Cut(elem, ";")
			if token = strings.TrimSpace(token); token != "" {
				f(token, parseQ(params))
			}
		}
	}
}

// merge combines repeated mentions: refusal wins, otherwise the highest.
func merge(seen bool, old, rank int) int {
	switch {
	case !seen:
		return rank
	case old == rankRefused || rank == rankRefused:
		return rankRefused
	default:
		return max(old, rank)
	}
}

// sameCoding compares coding tokens case-insensitively; "x-gzip" is an
// alias of "gzip" (RFC 9110 §8.4.1.3). Tokens are ASCII (§5.6.2), so
// their case is ASCII's: "zſtd" (a long s) names no coding.
func sameCoding(token, coding string) bool {
	return equalFoldASCII(token, coding) || coding == "gzip" && equalFoldASCII(token, "x-gzip")
}

// equalFoldASCII compares a and b ignoring the case of ASCII letters only.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// lowerASCII lowers an ASCII letter and leaves every other byte as it is.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// parseQ finds the q parameter in ";"-separated params and returns its rank.
// A missing q means 1. A malformed one (RFC 9110 §12.4.2 allows "0", "0.ddd",
// "1", "1.000"), such as "q=0.0000" or "q=-0", counts as a refusal, and so
// does a zero among repeated q parameters: whatever the client may have
// meant, brisk must not send something it might have refused.
func parseQ(params string) (rank int) {
	rank = 2000
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		name = strings.TrimSpace(name)
		if name != "q" && name != "Q" {
			continue
		}
		q, ok := parseQValue(strings.TrimSpace(value))
		if !ok {
			return rankRefused
		}
		rank = min(rank, 2*q)
	}
	return rank
}

// parseQValue parses a qvalue into thousandths.
func parseQValue(s string) (int, bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	if s[1] != '.' || len(s) > 5 {
		return 0, false
	}
	scale := 100
	for _, c := range []byte(s[2:]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}

// negotiate picks the representation to send for the Accept-Encoding lines
// given (nil when the request has none), from identity and its encoded
// variants, smallest first. Among acceptable representations the highest
// rank wins and ties go to the smallest; ok is false when nothing is
// acceptable, which the caller answers with 406.
func negotiate(lines []string, identity *compress.Representation, variants []compress.Representation) (rep *compress.Representation, ok bool) {
	if lines == nil {
		return identity, true
	}
	accepted := accepting(lines)
	best, bestRank := (*compress.Representation)(nil), rankRefused
	for i := range variants { // smallest first: a later one must beat, not tie
		if rank := accepted.rankOf(variants[i].Coding); rank > bestRank {
			best, bestRank = &variants[i], rank
		}
	}
	if rank := accepted.rankOf(""); rank > bestRank {
		best, bestRank = identity, rank
	}
	return best, bestRank > rankRefused
}

// rankOf is the rank the lines give a coding ("" is identity).
func (a *acceptance) rankOf(coding string) int {
	if coding == "" {
		w := a.weigh("identity")
		switch {
		case w.named:
			return w.rank
		case w.starred:
			return w.star
		}
		return rankImplicitIdentity
	}
	w := a.weigh(coding)
	if !w.named {
		return w.star // 0 when there is no "*"
	}
	return w.rank
}
