package server

import (
	"strconv"
	"strings"
)

// rangeResult says what to do with a Range header.
type rangeResult int

const (
	rangeIgnore        rangeResult = iota // send the whole representation, 200
	rangePartial                          // send [start, end), 206
	rangeUnsatisfiable                    // 416
)

// parseRange interprets a Range header for a representation of size bytes.
// Only a single "bytes" range is honoured: a header brisk does not
// understand, or one asking for several ranges, is ignored and the whole
// representation is sent, which RFC 9110 §14.2 allows. Browsers and
// download managers ask for one range at a time.
func parseRange(header string, size int64) (start, end int64, res rangeResult) {
	unit, spec, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || size == 0 {
		return 0, 0, rangeIgnore
	}
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, ",") {
		return 0, 0, rangeIgnore
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, rangeIgnore
	}
	if first == "" { // suffix range: the last N bytes
		n, ok := parseDigits(last)
		if !ok {
			return 0, 0, rangeIgnore
		}
		if n == 0 {
			return 0, 0, rangeUnsatisfiable
		}
		return max(size-n, 0), size, rangePartial
	}
	from, ok := parseDigits(first)
	if !ok {
		return 0, 0, rangeIgnore
	}
	to := size - 1
	if last != "" {
		if to, ok = parseDigits(last); !ok || to < from {
			return 0, 0, rangeIgnore
		}
	}
	if from >= size {
		return 0, 0, rangeUnsatisfiable
	}
	return from, min(to, size-1) + 1, rangePartial
}

// parseDigits accepts only ASCII digits (no sign, no spaces) that fit int64.
func parseDigits(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
