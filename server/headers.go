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

// assetHeaders are the header values of one asset, its variants and its
// deltas.
type assetHeaders struct {
	// The variants and deltas these were built for: an asset publishes a
	// new slice whenever one joins or leaves (a damaged sidecar replaced),
	// so the same slices mean the same representations.
	variants     []compress.Representation
	deltas       []compress.Delta
	html         bool // a page, whose preload links are announced
	contentType  []string
	lastModified []string
	cacheControl []string
	// vary is what every response of the asset varies on: nothing for a
	// file that is never compressed; Available-Dictionary too for a
	// dictionary, since any of its responses, a delta or not, was chosen
	// by looking at it.
	vary            []string
	useAsDictionary []string // nil unless the asset is a dictionary
	lastMod         time.Time
	reps            map[string]*repHeaders // by Tag
	extra           []headerField          // from Config.Headers
}

// sameSlice reports two slices with the same elements in the same memory.
func sameSlice[T any](x, y []T) bool {
	return len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
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

// headersFor returns the header values of a with these variants and
// deltas (as a published them, read once per request), rebuilding them
// when those changed since they were built.
func (s *Server) headersFor(sc *snapCache, a *compress.Asset, variants []compress.Representation, deltas []compress.Delta) *assetHeaders {
	if v, ok := sc.headers.Load(a); ok {
		if ah := v.(*assetHeaders); sameSlice(ah.variants, variants) && sameSlice(ah.deltas, deltas) {
			return ah
		}
	}
	mod := a.ModTime
	if mod.IsZero() {
		mod = s.cfg.Started
	}
	cacheControl := s.cacheControl(a)
	ah := &assetHeaders{
		variants:     variants,
		deltas:       deltas,
		html:         strings.HasPrefix(a.MediaType, "text/html"),
		contentType:  []string{a.MediaType},
		lastModified: []string{mod.UTC().Format(http.TimeFormat)},
		cacheControl: []string{cacheControl},
		lastMod:      mod,
		reps:         make(map[string]*repHeaders, len(variants)+len(deltas)+1),
		extra:        headerFieldsFor(s.cfg.Headers, a.Path),
	}
	if a.Compressible {
		ah.vary = valAcceptEncoding
		if ah.useAsDictionary = useAsDictionary(a.Path, s.basePath, cacheControl); ah.useAsDictionary != nil {
			ah.vary = valAvailableDictionary
		}
	}
	add := func(r *compress.Representation) {
		rh := &repHeaders{
			etag:          []string{`"` + r.Tag + `"`},
			contentLength: []string{strconv.FormatInt(r.Size, 10)},
		}
		if r.Coding != "" {
			rh.contentEncoding = []string{r.Coding}
		}
		ah.reps[r.Tag] = rh
	}
	add(&a.Identity)
	for i := range variants {
		add(&variants[i])
	}
	for i := range deltas {
		add(&deltas[i].Representation)
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
	if ah.useAsDictionary != nil {
		h["Use-As-Dictionary"] = ah.useAsDictionary
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

// addVary adds field names (one value, comma-separated) to Vary,
// keeping those added before (the single-page fallback varies on
// Accept). The common case, no Vary yet, assigns the prebuilt value and
// allocates nothing.
func addVary(h http.Header, names []string) {
	old := h["Vary"]
	if len(old) == 0 {
		h["Vary"] = names
		return
	}
	joined := strings.Join(old, ", ")
	for name := range strings.SplitSeq(names[0], ",") {
		name = strings.TrimSpace(name)
		if !hasToken(old, name) {
			joined += ", " + name
		}
	}
	h["Vary"] = []string{joined}
}

// hasToken reports whether the lines of a comma-separated header (Vary,
// Cache-Control) list token, case-insensitively, with or without a value.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if t, _, _ = strings.Cut(t, "="); strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
