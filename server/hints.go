package server

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/brisk-server/brisk/compress"
)

// linkHeader returns the Link header value for an HTML page: its
// modulepreload and preload links (what Leptos and Trunk emit for the JS
// glue and the wasm), for targets that exist in the snapshot. A browser
// that sees them in the headers, or in a 103 Early Hints, starts fetching
// the wasm before it has parsed the page.
// Finding them means parsing the page, which is done once per version;
// the value is kept as the header's []string, nil when there are none.
func (s *Server) linkHeader(snap *compress.Snapshot, a *compress.Asset) []string {
	hc := s.cacheFor(snap)
	if v, ok := hc.links.Load(a); ok {
		return v.([]string)
	}
	var links []string
	if page, err := a.Identity.Bytes(); err == nil {
		if v := preloadLinks(page, a.Path, snap, s.basePath); v != "" {
			links = []string{v}
		}
	}
	hc.links.Store(a, links)
	return links
}

// announceLinks sets a page's preload links as its Link header and, for a
// GET from a client of HTTP/1.1 or later, first sends them in a 103 Early
// Hints, so that the browser starts on the wasm while the page is on its
// way. RFC 9110 §15.2: no 1xx to an HTTP/1.0 client. The caller sends the
// page with 200 right after.
func (s *Server) announceLinks(w http.ResponseWriter, r *http.Request, snap *compress.Snapshot, a *compress.Asset) {
	links := s.linkHeader(snap, a)
	if links == nil {
		return
	}
	w.Header()["Link"] = links
	if r.Method == http.MethodGet && r.ProtoAtLeast(1, 1) {
		w.WriteHeader(http.StatusEarlyHints)
	}
}

// preloadLinks finds <link rel="modulepreload|preload" href=...> in page
// (at name) and renders them as one Link header value.
func preloadLinks(page []byte, name string, snap *compress.Snapshot, base string) string {
	var out []string
	headLinks(string(page), func(attrs map[string]string) {
		rel := strings.ToLower(attrs["rel"])
		if rel != "modulepreload" && rel != "preload" {
			return
		}
		target, ok := resolve(name, attrs["href"], base)
		if !ok {
			return
		}
		if _, exists := snap.Lookup(target); !exists {
			return
		}
		link := "<" + base + target + ">; rel=" + rel
		for _, k := range []string{"as", "type"} {
			if v := attrs[k]; v != "" && !strings.ContainsAny(v, "\";,") {
				link += "; " + k + `="` + v + `"`
			}
		}
		if _, ok := attrs["crossorigin"]; ok {
			link += "; crossorigin"
		}
		out = append(out, link)
	})
	return strings.Join(out, ", ")
}

// resolve turns an href in the page at name into a snapshot name; links
// to other hosts, with queries, or outside the base path are not the
// site's files.
func resolve(name, href, base string) (string, bool) {
	u, err := url.Parse(href)
	if err != nil || u.Scheme != "" || u.Host != "" || u.RawQuery != "" || u.Path == "" {
		return "", false
	}
	p := u.Path
	if strings.HasPrefix(p, "/") {
		rest, ok := strings.CutPrefix(p, base)
		if !ok {
			return "", false
		}
		p = "/" + rest
	} else {
		p = path.Join("/", path.Dir(name), p)
	}
	target, status := assetName(path.Clean(p))
	return target, status == 0
}
