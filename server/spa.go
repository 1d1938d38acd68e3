package server

import (
	"net/http"
	"path"
	"strings"

	"github.com/brisk-server/brisk/compress"
)

// fallback finds the single-page app's index for a URL path that is not a
// file: only for GET and HEAD, only when the path's last segment has no
// extension (a missing .wasm or .js must stay a 404, or the browser would
// try to run HTML; a route such as /todos/3/ is a route), and only when the
// request accepts HTML.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request, snap *compress.Snapshot, urlPath string) (*compress.Asset, bool) {
	if s.cfg.Fallback == "" {
		return nil, false
	}
	// Both the page and a 404 depend on Accept from here on.
	addVary(w.Header(), valAccept)
	if !readOnly(r.Method) || path.Ext(strings.TrimSuffix(urlPath, "/")) != "" || !acceptsHTML(r.Header["Accept"]) {
		return nil, false
	}
	return snap.Lookup(s.cfg.Fallback)
}

// acceptsHTML reports whether Accept admits text/html with q > 0. No
// Accept header means anything is acceptable (RFC 9110 §12.5.1).
// The most specific range that matches decides: "text/html;q=0, */*"
// refuses HTML.
func acceptsHTML(lines []string) bool {
	if lines == nil {
		return true
	}
	ranks := map[string]int{} // media range → rank, for the three that match text/html
	for _, line := range lines {
		for elem := range strings.SplitSeq(line, ",") {
			mediaRange, params, _ := strings.Cut(elem, ";")
			switch r := strings.ToLower(strings.TrimSpace(mediaRange)); r {
			case "text/html", "text/*", "*/*":
				ranks[r] = max(ranks[r], parseQ(params))
			}
		}
	}
	for _, r := range []string{"text/html", "text/*", "*/*"} {
		if rank, ok := ranks[r]; ok {
			return rank > rankRefused
		}
	}
	return false
}
