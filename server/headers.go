package server

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// Header values that never change. Assigning a prebuilt []string to the
// header map costs no allocation, where Header.Set makes a new slice every
// time; neither net/http nor echo modify the slices they are given.
var (
	valNosniff        = []string{"nosniff"}
	valAcceptEncoding = []string{"Accept-Encoding"}
	valAccept         = []string{"Accept"}
	valBytes          = []string{"bytes"}
	valAllow          = []string{"GET, HEAD"}
	valPlainText      = []string{"text/plain; charset=utf-8"}
	// Cross-origin isolation (--cross-origin-isolation): browsers grant
	// SharedArrayBuffer, and so wasm threads, only to isolated pages.
	valSameOrigin  = []string{"same-origin"}
	valRequireCORP = []string{"require-corp"}
)

// repHeaders are one representation's header values, built once.
type repHeaders struct {
	etag, contentLength, contentEncoding []string
}

// assetHeaders are the header values of one asset and its variants.
type assetHeaders struct {
	variants     int  // how many variants existed when this was built
	html         bool // a page, whose preload links are announced
	contentType  []string
	lastModified []string
	cacheControl []string
	lastMod      time.Time
	reps         map[string]*repHeaders // by coding; "" is identity
	extra        []headerField          // from Config.Headers
}

// snapCache holds what the server derives from one snapshot's assets:
// header values and preload links. It is dropped with the snapshot, so
// replaced versions do not pile up.
type snapCache struct {
	snap    *compress.Snapshot
	headers sync.Map // *compress.Asset → *assetHeaders
	links   sync.Map // *compress.Asset → []string (the Link header)
}

// cacheFor returns the cache of snap, starting a new one when the
// snapshot changed.
func (s *Server) cacheFor(snap *compress.Snapshot) *snapCache {
	sc := s.derived.Load()
	if sc == nil || sc.snap != snap {
		sc = &snapCache{snap: snap}
		s.derived.Store(sc)
	}
	return sc
}

// headersFor returns a's header values, rebuilding them when a variant
// joined since they were built.
func (s *Server) headersFor(sc *snapCache, a *compress.Asset) *assetHeaders {
	variants := a.Variants()
	if v, ok := sc.headers.Load(a); ok {
		if ah := v.(*assetHeaders); ah.variants == len(variants) {
			return ah
		}
	}
	mod := a.ModTime
	if mod.IsZero() {
		mod = s.cfg.Started
	}
	ah := &assetHeaders{
		variants:     len(variants),
		html:         strings.HasPrefix(a.MediaType, "text/html"),
		contentType:  []string{a.MediaType},
		lastModified: []string{mod.UTC().Format(http.TimeFormat)},
		cacheControl: []string{s.cacheControl(a)},
		lastMod:      mod,
		reps:         make(map[string]*repHeaders, len(variants)+1),
		extra:        headerFieldsFor(s.cfg.Headers, a.Path),
	}
	add := func(r *compress.Representation) {
		rh := &repHeaders{
			etag:          []string{`"` + r.Tag + `"`},
			contentLength: []string{strconv.FormatInt(r.Size, 10)},
		}
		if r.Coding != "" {
			rh.contentEncoding = []string{r.Coding}
		}
		ah.reps[r.Coding] = rh
	}
	add(&a.Identity)
	for i := range variants {
		add(&variants[i])
	}
	sc.headers.Store(a, ah)
	return ah
}

// writeDeadliner is what net/http's ResponseWriter offers for per-response
// write deadlines; asking for it directly avoids a ResponseController.
type writeDeadliner interface {
	SetWriteDeadline(time.Time) error
}

// setRepresentationHeaders describes the body about to be sent, and adds
// the headers the rules give the file.
func setRepresentationHeaders(h http.Header, ah *assetHeaders, rh *repHeaders) {
	h["Content-Type"] = ah.contentType
	h["Cache-Control"] = ah.cacheControl
	h["X-Content-Type-Options"] = valNosniff
	if rh.contentEncoding != nil {
		h["Content-Encoding"] = rh.contentEncoding
	}
	setRuleHeaders(h, ah)
}

// setValidators adds what a client needs to revalidate the representation
// or ask for a range of it.
func setValidators(h http.Header, ah *assetHeaders, rh *repHeaders) {
	h["Etag"] = rh.etag
	h["Last-Modified"] = ah.lastModified
	h["Accept-Ranges"] = valBytes
}

func setRuleHeaders(h http.Header, ah *assetHeaders) {
	for _, f := range ah.extra {
		h[f.name] = f.value
	}
}

// addVary adds a field name to Vary, keeping those added before (the
// single-page fallback varies on Accept). The common case, no Vary yet,
// assigns the prebuilt value and allocates nothing.
func addVary(h http.Header, name []string) {
	old := h["Vary"]
	if len(old) == 0 {
		h["Vary"] = name
		return
	}
	for _, line := range old {
		for token := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(token), name[0]) {
				return
			}
		}
	}
	h["Vary"] = []string{strings.Join(old, ", ") + ", " + name[0]}
}
