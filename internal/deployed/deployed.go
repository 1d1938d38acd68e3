// Package deployed downloads the versions of a site's hashed bundles that
// are deployed now, so that a new build can be precompressed as deltas
// against what returning visitors have in their caches.
//
// It learns their names from the deployed site itself: it fetches the
// site's URL and, at the same paths, the HTML pages the new build has,
// and then the JavaScript they name, and takes every name in them that
// has the shape of a hashed file of the new build: same directory, same
// name around the hash (pkg/app.<hash>.wasm, app-<hash>_bg.wasm). The
// pages are where Leptos and Trunk name the glue and the wasm (module
// preloads, preloads, the inline script that starts the app), so they are
// what visitors load.
package deployed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/brisk-server/brisk/compress"
)

// Bounds of the download: pages and glue are small; a bundle is at most
// what a dcz delta can use as a dictionary (128 MB).
const (
	maxPages     = 16
	maxPageBytes = 8 << 20
	maxFileBytes = 128 << 20
	timeout      = 2 * time.Minute
)

// family is the part of a hashed name that stays across builds.
type family struct{ dir, prefix, suffix string }

// Fetch downloads into dir, at their paths under the site root, the
// deployed versions of the hashed files of the new build in root, from
// the site at base. It returns the paths it wrote. An error means the
// site could not be read at all; a single file that fails is logged and
// skipped.
func Fetch(ctx context.Context, client *http.Client, base *url.URL, root fs.FS, dir string, log *slog.Logger) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	families, pages, current, err := survey(root)
	if err != nil {
		return nil, err
	}
	if len(families) == 0 {
		return nil, nil
	}
	base = withSlash(base)
	g := getter{ctx: ctx, client: client, log: log}
	found := map[string]bool{} // site paths named by what was fetched
	scan := func(text string) {
		for _, name := range names(text, families) {
			if !current[name] {
				found[name] = true
			}
		}
	}
	// The URL itself (an SSR app's page comes from its server), then the
	// build's own pages.
	text, err := g.get(base, maxPageBytes)
	if err != nil {
		return nil, err
	}
	scan(string(text))
	for _, p := range pages {
		if text, err := g.get(base.JoinPath(p), maxPageBytes); err == nil {
			scan(string(text))
		}
	}
	// The glue names the wasm when the page does not; what is read here
	// is written as it is below, not fetched again.
	glue := map[string][]byte{}
	for _, name := range slices.Sorted(maps.Keys(found)) {
		if strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".mjs") {
			if text, err := g.get(base.JoinPath(name), maxPageBytes); err == nil {
				glue[name] = text
				scan(string(text))
			}
		}
	}
	var wrote []string
	for _, name := range slices.Sorted(maps.Keys(found)) {
		data, ok := glue[name]
		if !ok {
			var err error
			if data, err = g.get(base.JoinPath(name), maxFileBytes); err != nil {
				continue
			}
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return wrote, err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return wrote, err
		}
		wrote = append(wrote, name)
	}
	return wrote, nil
}

// survey lists the families of the hashed files in root, its HTML pages
// (at most maxPages, shallowest first) and the paths it has.
func survey(root fs.FS) (families []family, pages []string, current map[string]bool, err error) {
	current = map[string]bool{}
	seen := map[family]bool{}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case name != "." && strings.HasPrefix(d.Name(), "."):
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		case d.IsDir():
			return nil
		}
		current[name] = true
		dir, base := path.Split(name)
		if prefix, suffix, ok := compress.HashedName(base); ok && !seen[family{dir, prefix, suffix}] {
			seen[family{dir, prefix, suffix}] = true
			families = append(families, family{dir, prefix, suffix})
		}
		if ext := path.Ext(name); ext == ".html" || ext == ".htm" {
			pages = append(pages, name)
		}
		return nil
	})
	slices.SortStableFunc(pages, func(x, y string) int { return strings.Count(x, "/") - strings.Count(y, "/") })
	return families, pages[:min(len(pages), maxPages)], current, err
}

// names returns the site paths of the hashed files of families that text
// names: every run of characters that can make up a URL path whose last
// element is a hashed name of one of the families, whatever directory
// and base path precede it (the deployed site uses the new build's
// layout).
func names(text string, families []family) []string {
	var out []string
	for token := range strings.FieldsFuncSeq(text, notPathByte) {
		prefix, suffix, ok := compress.HashedName(path.Base(token))
		if !ok {
			continue
		}
		for _, f := range families {
			if f.prefix == prefix && f.suffix == suffix {
				out = append(out, f.dir+path.Base(token))
			}
		}
	}
	return out
}

func notPathByte(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~/", r))
}

// getter makes the GET requests of one Fetch.
type getter struct {
	ctx    context.Context
	client *http.Client
	log    *slog.Logger
}

// get returns the body of u, decoded as the client's transport decodes
// gzip, refusing more than limit bytes.
func (g getter) get(u *url.URL, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(g.ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		g.log.Debug("deployed site: not fetched", "url", u.String(), "status", resp.StatusCode)
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = errors.New("too large")
	}
	if err != nil {
		g.log.Warn("deployed site: cannot read", "url", u.String(), "err", err)
		return nil, err
	}
	return data, nil
}

// withSlash makes a URL a directory, so that paths join under it.
func withSlash(u *url.URL) *url.URL {
	c := *u
	if !strings.HasSuffix(c.Path, "/") {
		c.Path += "/"
	}
	c.RawQuery, c.Fragment = "", ""
	return &c
}
