package server

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// serveSite answers every request that is not brisk's own: a file of the
// current snapshot, the single-page app's fallback, or the upstream.
func (s *Server) serveSite(w http.ResponseWriter, r *http.Request) error {
	urlPath, name, status, inside := s.siteName(r.URL.Path)
	if !inside {
		if r.URL.Path+"/" == s.basePath && readOnly(r.Method) {
			return redirect(w, r, s.basePath)
		}
		return s.notFile(w, r, http.StatusNotFound)
	}
	switch status {
	case 0:
	case http.StatusNotFound: // a hidden name: not the site's, maybe the upstream's
		return s.notFile(w, r, status)
	default:
		return refuse(status, fmt.Errorf("rejected path %q", r.URL.Path))
	}
	snap := s.cfg.Source.Snapshot()
	a, ok := snap.Lookup(name)
	if !ok {
		if _, isDir := snap.Lookup(name + "/" + indexFile); isDir && readOnly(r.Method) {
			return redirect(w, r, s.basePath+name+"/")
		}
		if a, ok = s.fallback(w, r, snap, urlPath); !ok {
			return s.notFile(w, r, http.StatusNotFound)
		}
	}
	if !readOnly(r.Method) {
		w.Header()["Allow"] = valAllow
		return refuse(http.StatusMethodNotAllowed, nil)
	}
	return s.serveFile(w, r, snap, a, http.StatusOK)
}

// siteName maps a request's path to the name of a file of the site:
// inside reports whether the path is under the base path; urlPath is the
// rest of it, from the base's last "/"; status is assetName's.
func (s *Server) siteName(p string) (urlPath, name string, status int, inside bool) {
	if !strings.HasPrefix(p, s.basePath) {
		return "", "", 0, false
	}
	urlPath = p[len(s.basePath)-1:]
	name, status = assetName(urlPath)
	return urlPath, name, status, true
}

// notFile answers a request that names no file of the site: the upstream
// gets it, if there is one; otherwise a GET or HEAD that gets 404 gets the
// not-found page, if the site has one.
func (s *Server) notFile(w http.ResponseWriter, r *http.Request, status int) error {
	if s.proxy != nil {
		return s.forward(w, r)
	}
	if status == http.StatusNotFound && s.cfg.NotFound != "" && readOnly(r.Method) {
		snap := s.cfg.Source.Snapshot()
		if page, ok := snap.Lookup(s.cfg.NotFound); ok {
			return s.serveFile(w, r, snap, page, http.StatusNotFound)
		}
	}
	return refuse(status, nil)
}

// redirect sends a directory URL without its slash (or the base path
// without its slash) to the URL with it.
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	w.Header().Set("Location", withQuery(to, r.URL.RawQuery))
	w.WriteHeader(http.StatusMovedPermanently)
	return nil
}

// serveFile answers a GET or HEAD of one asset in the order of net/http's
// serveContent: choose the representation, evaluate the preconditions
// against it, choose the range; only then write, headers first. A refusal
// on the way has written nothing but Vary (and a 416 its Content-Range). With status 404 it sends the
// not-found page: negotiated and compressed like any file, but without
// preconditions, ranges or validators, which belong to a resource that
// exists (RFC 9110 §13.2.1).
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, snap *compress.Snapshot, a *compress.Asset, status int) error {
	if arriving := a.Arriving(); arriving != nil && r.Header["Accept-Encoding"] != nil {
		awaitSidecars(r, arriving)
	}
	h := w.Header()
	variants, deltas := a.Variants(), a.Deltas()
	ah := s.headersFor(s.cacheFor(snap), a, variants, deltas)
	if ah.vary != nil {
		// Every outcome below, uncompressed ones too, depends on it.
		addVary(h, ah.vary)
	}
	rep, ok := negotiate(r.Header["Accept-Encoding"], &a.Identity, variants)
	delta := false
	if ah.useAsDictionary != nil && r.Header["Available-Dictionary"] != nil {
		if !ok {
			rep = nil
		}
		if d := chooseDelta(r, deltas, rep); d != nil {
			rep, ok, delta = &d.Representation, true, true
		}
	}
	if !ok {
		return refuse(http.StatusNotAcceptable, fmt.Errorf("%s: no acceptable encoding in %q", a.Path, r.Header["Accept-Encoding"]))
	}
	rh := ah.reps[rep.Tag] // built from the same variants and deltas
	found := status == http.StatusOK
	if found {
		switch checkPreconditions(r.Header, rh.etag[0], ah.lastMod) {
		case condNotModified:
			writeNotModified(w, ah, rh)
			return nil
		case condFailed:
			return refuse(http.StatusPreconditionFailed, nil)
		}
	}
	// A delta is sent whole: a part of it is of no use to a client that
	// needs all of it to decode any of it.
	start, end := int64(0), rep.Size
	if found && r.Method == http.MethodGet && r.Header["Range"] != nil && !delta && rangeApplies(r.Header, rh.etag[0], ah.lastMod) {
		var res rangeResult
		switch start, end, res = parseRange(first(r.Header, "Range"), rep.Size); res {
		case rangePartial:
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, rep.Size))
			status = http.StatusPartialContent
		case rangeUnsatisfiable:
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", rep.Size))
			return refuse(http.StatusRequestedRangeNotSatisfiable, nil)
		default:
			start, end = 0, rep.Size
		}
	}
	var data []byte
	var file fs.File
	var sealed syscall.RawConn
	if r.Method == http.MethodGet {
		var err error
		if data, file, err = rep.Body(); err != nil {
			if rep != &a.Identity {
				// A variant that failed its check has left the asset
				// by now (compress repairs it): choose again.
				return s.serveFile(w, r, snap, a, status)
			}
			// The file changed under a manifest that vouched for it.
			return refuse(http.StatusServiceUnavailable, fmt.Errorf("%s: %w", a.Path, err))
		}
		if file != nil {
			defer file.Close()
		} else if sendsSealed(w) {
			sealed = rep.Sealed()
		}
	}
	if status == http.StatusOK && ah.html {
		s.announceLinks(w, r, snap, a)
	}
	setRepresentationHeaders(h, ah, rh)
	if found {
		setValidators(h, ah, rh)
	}
	// Set by hand: net/http leaves it out when Content-Encoding is set,
	// and browsers show download progress only with it.
	if start == 0 && end == rep.Size {
		h["Content-Length"] = rh.contentLength
	} else {
		h.Set("Content-Length", strconv.FormatInt(end-start, 10))
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil
	}
	if wd, ok := w.(writeDeadliner); ok {
		deadline := time.Now().Add(writeBase + time.Duration((end-start)/slowestClient)*time.Second)
		if err := wd.SetWriteDeadline(deadline); err != nil {
			s.log.Debug("set write deadline", "err", err)
		}
	}
	if err := writeBody(w, r, status, data, file, sealed, start, end); err != nil {
		// The client went away; the status is already sent.
		s.log.Debug("write body", "path", a.Path, "err", err)
	} else if m := s.metrics; m != nil && rep.Coding != "" && end-start == rep.Size {
		m.countSaved(rep.Coding, a.Identity.Size-rep.Size)
	}
	return nil
}

// sidecarWait bounds how long a request waits for the sidecars found
// beside its file to be checked (a cold start without a manifest checks
// a 2 MB wasm's brotli sidecar in about 15 ms) rather than get a larger
// representation at once.
const sidecarWait = 2 * time.Second

func awaitSidecars(r *http.Request, arriving <-chan struct{}) {
	t := time.NewTimer(sidecarWait)
	defer t.Stop()
	select {
	case <-arriving:
	case <-t.C:
	case <-r.Context().Done():
	}
}

// writeBody sends the status line and head, then bytes [start, end) of
// the representation: from its sealed copy where the writer can
// (sealed.go), from memory with the head in one system call where it can,
// or from its file, which net/http hands to sendfile when the writer is a
// plain connection.
func writeBody(w http.ResponseWriter, r *http.Request, status int, data []byte, file fs.File, sealed syscall.RawConn, start, end int64) error {
	if sealed != nil {
		w.WriteHeader(status)
		if _, err := w.(sealedSender).SendSealed(sealed, start, end-start); err != errUnsent {
			return err
		}
	}
	if file == nil {
		return sendInOneWrite(w, r, status, data[start:end])
	}
	w.WriteHeader(status)
	if start > 0 {
		seeker, ok := file.(io.Seeker)
		if !ok {
			return errors.New("file cannot seek")
		}
		if _, err := seeker.Seek(start, io.SeekStart); err != nil {
			return err
		}
	}
	_, err := io.Copy(w, io.LimitReader(file, end-start))
	return err
}

// readOnly reports the methods a static file answers.
func readOnly(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
}
