package server

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestConditionalRequests(t *testing.T) {
	srv, _ := newTestServer(t)
	first := do(t, srv, "GET", "/pkg/app.js", "Accept-Encoding", "br")
	etag := first.Header.Get("Etag")
	lastMod := first.Header.Get("Last-Modified")
	before := testMod.Add(-time.Hour).Format(http.TimeFormat)
	after := testMod.Add(time.Hour).Format(http.TimeFormat)

	tests := []struct {
		rfc    string
		header []string
		want   int
	}{
		{"§13.1.2 If-None-Match same tag", []string{"If-None-Match", etag}, 304},
		{"§13.1.2 If-None-Match weak comparison", []string{"If-None-Match", "W/" + etag}, 304},
		{"§13.1.2 If-None-Match in a list", []string{"If-None-Match", `"a", ` + etag + `, "b"`}, 304},
		{"§13.1.2 If-None-Match *", []string{"If-None-Match", "*"}, 304},
		{"§13.1.2 If-None-Match other tag", []string{"If-None-Match", `"other"`}, 200},
		{"§13.1.2 If-None-Match unquoted garbage", []string{"If-None-Match", "garbage"}, 200},
		{"§13.1.3 If-Modified-Since = Last-Modified", []string{"If-Modified-Since", lastMod}, 304},
		{"§13.1.3 If-Modified-Since later", []string{"If-Modified-Since", after}, 304},
		{"§13.1.3 If-Modified-Since earlier", []string{"If-Modified-Since", before}, 200},
		{"§13.1.3 If-Modified-Since invalid date ignored", []string{"If-Modified-Since", "yesterday"}, 200},
		{"§13.2.2 If-None-Match wins over If-Modified-Since", []string{"If-None-Match", `"other"`, "If-Modified-Since", after}, 200},
		{"§13.1.1 If-Match same tag", []string{"If-Match", etag}, 200},
		{"§13.1.1 If-Match *", []string{"If-Match", "*"}, 200},
		{"§13.1.1 If-Match other tag", []string{"If-Match", `"other"`}, 412},
		{"§13.1.1 If-Match strong comparison refuses W/", []string{"If-Match", "W/" + etag}, 412},
		{"§13.1.4 If-Unmodified-Since earlier", []string{"If-Unmodified-Since", before}, 412},
		{"§13.1.4 If-Unmodified-Since later", []string{"If-Unmodified-Since", after}, 200},
		{"§13.2.2 If-Match wins over If-Unmodified-Since", []string{"If-Match", etag, "If-Unmodified-Since", before}, 200},
		{"§13.2.2 If-Match fails before If-None-Match", []string{"If-Match", `"other"`, "If-None-Match", etag}, 412},
		{"§13.1.2 a tag of another representation", []string{"If-None-Match", identityETag(t, srv)}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.rfc, func(t *testing.T) {
			resp := do(t, srv, "GET", "/pkg/app.js", append([]string{"Accept-Encoding", "br"}, tt.header...)...)
			b := body(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want != 304 {
				return
			}
			// RFC 9110 §15.4.5: a 304 carries the ETag, Vary and
			// Cache-Control a 200 would have, no content, and no other
			// metadata: with an ETag, Last-Modified guides no cache.
			if len(b) != 0 || resp.Header.Get("Content-Length") != "" {
				t.Errorf("304 with %d body bytes, Content-Length %q", len(b), resp.Header.Get("Content-Length"))
			}
			for _, k := range []string{"Etag", "Vary", "Cache-Control"} {
				if resp.Header.Get(k) != first.Header.Get(k) {
					t.Errorf("304 %s %q, 200 had %q", k, resp.Header.Get(k), first.Header.Get(k))
				}
			}
			for _, k := range []string{"Last-Modified", "Content-Type", "Content-Encoding", "Accept-Ranges"} {
				if v := resp.Header.Get(k); v != "" {
					t.Errorf("304 carries %s %q", k, v)
				}
			}
		})
	}
}

func identityETag(t *testing.T, srv *Server) string {
	return do(t, srv, "GET", "/pkg/app.js").Header.Get("Etag")
}

func TestRangeRequests(t *testing.T) {
	srv, store := newTestServer(t)
	a, _ := store.Snapshot().Lookup("pkg/app.js")
	full := repBytes(t, &a.Identity)
	size := len(full)
	br := a.Variants()[0]
	etag := `"` + a.Identity.Tag + `"`
	lastMod := testMod.Format(http.TimeFormat)
	sizeStr := strconv.Itoa(size)

	tests := []struct {
		rfc          string
		method       string
		header       []string
		want         int
		start, end   int // body = data[start:end] for 206
		contentRange string
	}{
		{"§14.1.2 first bytes", "GET", []string{"Range", "bytes=0-9"}, 206, 0, 10, "bytes 0-9/" + sizeStr},
		{"§14.1.2 open end", "GET", []string{"Range", "bytes=100-"}, 206, 100, size, "bytes 100-" + strconv.Itoa(size-1) + "/" + sizeStr},
		{"§14.1.2 suffix", "GET", []string{"Range", "bytes=-5"}, 206, size - 5, size, "bytes " + strconv.Itoa(size-5) + "-" + strconv.Itoa(size-1) + "/" + sizeStr},
		{"§14.1.2 last-pos past the end is clipped", "GET", []string{"Range", "bytes=10-999999"}, 206, 10, size, "bytes 10-" + strconv.Itoa(size-1) + "/" + sizeStr},
		{"§14.1.2 suffix longer than the file", "GET", []string{"Range", "bytes=-999999"}, 206, 0, size, "bytes 0-" + strconv.Itoa(size-1) + "/" + sizeStr},
		{"§15.5.17 first-pos past the end", "GET", []string{"Range", "bytes=" + sizeStr + "-"}, 416, 0, 0, "bytes */" + sizeStr},
		{"§15.5.17 zero-length suffix", "GET", []string{"Range", "bytes=-0"}, 416, 0, 0, "bytes */" + sizeStr},
		{"§14.2 several ranges: whole body", "GET", []string{"Range", "bytes=0-1,5-6"}, 200, 0, size, ""},
		{"§14.2 unknown unit ignored", "GET", []string{"Range", "items=0-1"}, 200, 0, size, ""},
		{"§14.2 malformed ignored", "GET", []string{"Range", "bytes=a-b"}, 200, 0, size, ""},
		{"§14.2 last before first ignored", "GET", []string{"Range", "bytes=9-2"}, 200, 0, size, ""},
		{"§14.2 HEAD ignores Range", "HEAD", []string{"Range", "bytes=0-9"}, 200, 0, 0, ""},
		{"§13.1.5 If-Range matching tag", "GET", []string{"Range", "bytes=0-9", "If-Range", etag}, 206, 0, 10, "bytes 0-9/" + sizeStr},
		{"§13.1.5 If-Range other tag: whole body", "GET", []string{"Range", "bytes=0-9", "If-Range", `"old"`}, 200, 0, size, ""},
		{"§13.1.5 If-Range weak tag never matches", "GET", []string{"Range", "bytes=0-9", "If-Range", "W/" + etag}, 200, 0, size, ""},
		{"§13.1.5 If-Range equal date", "GET", []string{"Range", "bytes=0-9", "If-Range", lastMod}, 206, 0, 10, "bytes 0-9/" + sizeStr},
		{"§13.1.5 If-Range other date", "GET", []string{"Range", "bytes=0-9", "If-Range", testMod.Add(-time.Hour).Format(http.TimeFormat)}, 200, 0, size, ""},
	}
	for _, tt := range tests {
		t.Run(tt.rfc, func(t *testing.T) {
			resp := do(t, srv, tt.method, "/pkg/app.js", tt.header...)
			b := body(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if got := resp.Header.Get("Content-Range"); got != tt.contentRange {
				t.Errorf("Content-Range %q, want %q", got, tt.contentRange)
			}
			if tt.want == 416 || tt.method == "HEAD" {
				return
			}
			if string(b) != string(full[tt.start:tt.end]) {
				t.Errorf("body is %d bytes, want bytes %d-%d", len(b), tt.start, tt.end)
			}
			if resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
				t.Errorf("Content-Length %q for %d bytes", resp.Header.Get("Content-Length"), len(b))
			}
		})
	}

	// A range of an encoded representation counts bytes of the encoding
	// (RFC 9110 §14.1.1: ranges apply to the selected representation).
	resp := do(t, srv, "GET", "/pkg/app.js", "Accept-Encoding", br.Coding, "Range", "bytes=0-3")
	if b := body(t, resp); resp.StatusCode != 206 || string(b) != string(repBytes(t, &br)[:4]) ||
		resp.Header.Get("Content-Encoding") != br.Coding ||
		resp.Header.Get("Content-Range") != "bytes 0-3/"+strconv.FormatInt(br.Size, 10) {
		t.Errorf("range of %s: status %d, Content-Range %q", br.Coding, resp.StatusCode, resp.Header.Get("Content-Range"))
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=5-", "bytes=0-1,2-3", "bytes=99999999999999999999-", "bytes=-", "=", "bytes= 1 - 2"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 { // math.MinInt64
			return
		}
		start, end, res := parseRange(header, size)
		if res == rangePartial && (start < 0 || end > size || start >= end) {
			t.Fatalf("parseRange(%q, %d) = [%d, %d): not a non-empty range inside the representation", header, size, start, end)
		}
	})
}
