package server

import (
	"bytes"
	"io"
	"net/http"
	"path"
	"strings"
	"time"
)

// LiveReloadPath is the server-sent-events stream that tells open pages a
// new snapshot was published (dev mode only). The leading underscore keeps
// it out of the way of a site's own files.
const LiveReloadPath = "/_brisk/live-reload"

// liveReloadScript reloads the page when the stream says so. EventSource
// reconnects by itself; a second "hello" means brisk restarted (most
// likely on a rebuild), so that reloads too.
const liveReloadScript = `<script>(() => {
  let seen = false;
  const es = new EventSource("` + LiveReloadPath + `");
  es.addEventListener("hello", () => { if (seen) location.reload(); seen = true; });
  es.addEventListener("reload", () => location.reload());
})();</script>
`

// Changer is a Source that can say when it publishes a new snapshot;
// compress.Store is one.
type Changer interface {
	Changed() <-chan struct{}
}

// InjectLiveReload adds the live-reload script to HTML files, before the
// last </body> (or at the end), and leaves other files alone. It is meant
// as compress.Config.Transform, so that every representation, compressed
// or not, carries the script and ETags stay exact.
func InjectLiveReload(name string, data []byte) []byte {
	switch strings.ToLower(path.Ext(name)) {
	case ".html", ".htm":
	default:
		return data
	}
	at := bytes.LastIndex(bytes.ToLower(data), []byte("</body>"))
	if at < 0 {
		at = len(data)
	}
	out := make([]byte, 0, len(data)+len(liveReloadScript))
	out = append(out, data[:at]...)
	out = append(out, liveReloadScript...)
	return append(out, data[at:]...)
}

// keepAlive is how often an idle event stream sends a comment, so that
// proxies do not time it out.
const keepAlive = 15 * time.Second

func (s *Server) liveReload(w http.ResponseWriter, r *http.Request) error {
	changer, ok := s.cfg.Source.(Changer)
	if !ok {
		return refuse(http.StatusNotFound, nil)
	}
	changed := changer.Changed()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h["Cache-Control"] = valNoStore
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	send := func(msg string) error {
		if _, err := io.WriteString(w, msg); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	if err := send("retry: 500\nevent: hello\ndata: \n\n"); err != nil {
		return nil
	}
	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	for {
		var msg string
		select {
		case <-changed:
			changed = changer.Changed()
			msg = "event: reload\ndata: \n\n"
		case <-ping.C:
			msg = ": ping\n\n"
		case <-r.Context().Done():
			return nil
		case <-s.stopping:
			return nil
		}
		if err := send(msg); err != nil {
			return nil
		}
	}
}
