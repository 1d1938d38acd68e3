package server

import (
	"net/http"
	"strings"
)

// assetName maps a decoded URL path to the name of a file in a snapshot.
// net/http has already undone one level of percent-encoding, so "%2e%2e"
// and "%2f" arrive here as ".." and "/"; a second level ("%252e") stays
// literal and can only name a file that does not exist. Paths that try to
// climb, hide NUL or backslashes, or are not canonical get 400; names of
// hidden files get 404, as if they were not there.
func assetName(urlPath string) (name string, status int) {
	if !strings.HasPrefix(urlPath, "/") {
		return "", http.StatusBadRequest
	}
	rest := urlPath[1:]
	if strings.ContainsAny(rest, "\x00\\") {
		return "", http.StatusBadRequest
	}
	dir := rest == "" || strings.HasSuffix(rest, "/")
	trimmed := strings.TrimSuffix(rest, "/")
	if trimmed != "" {
		for elem := range strings.SplitSeq(trimmed, "/") {
			switch {
			case elem == "" || elem == "." || elem == "..":
				return "", http.StatusBadRequest
			case elem[0] == '.':
				return "", http.StatusNotFound
			}
		}
	}
	switch {
	case trimmed == "":
		return indexFile, 0
	case dir:
		return trimmed + "/" + indexFile, 0
	}
	return trimmed, 0
}

// indexFile is what a directory URL serves; there are no listings.
const indexFile = "index.html"

// ValidFileName reports whether name (slash-separated, relative to the
// root) can name a file brisk serves, as --not-found and --fallback must.
func ValidFileName(name string) bool {
	got, status := assetName("/" + name)
	return status == 0 && got == name
}
