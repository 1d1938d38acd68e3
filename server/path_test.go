package server

import (
	"strings"
	"testing"
)

func TestAssetName(t *testing.T) {
	tests := []struct {
		in, want string
		status   int
	}{
		{"/", "index.html", 0},
		{"/pkg/app.js", "pkg/app.js", 0},
		{"/docs/", "docs/index.html", 0},
		{"/a%20b.txt", "a%20b.txt", 0}, // already decoded once; stays literal
		{"", "", 400},
		{"pkg/app.js", "", 400},
		{"/../x", "", 400},
		{"/a/../x", "", 400},
		{"/./x", "", 400},
		{"//x", "", 400},
		{"/a//b", "", 400},
		{"/a\\..\\b", "", 400},
		{"/a\x00b", "", 400},
		{"/.env", "", 404},
		{"/.git/config", "", 404},
		{"/pkg/.hidden/x.js", "", 404},
		{"/..x", "", 404},
	}
	for _, tt := range tests {
		got, status := assetName(tt.in)
		if got != tt.want || status != tt.status {
			t.Errorf("assetName(%q) = %q, %d; want %q, %d", tt.in, got, status, tt.want, tt.status)
		}
	}
}

// FuzzAssetName: any accepted path is a clean relative name inside the
// root, with no hidden element, so a snapshot lookup can never escape.
func FuzzAssetName(f *testing.F) {
	for _, s := range []string{"/", "/pkg/app.js", "/../x", "/a/./b", "/.env", "/a\\b", "/a\x00", "//", "/x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, status := assetName(in)
		if status != 0 {
			if name != "" {
				t.Fatalf("%q: refused with %d but named %q", in, status, name)
			}
			return
		}
		if name == "" || strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\x00\\") {
			t.Fatalf("%q: accepted as %q", in, name)
		}
		for _, elem := range strings.Split(name, "/") {
			if elem == "" || elem == "." || elem == ".." || strings.HasPrefix(elem, ".") {
				t.Fatalf("%q: accepted as %q with element %q", in, name, elem)
			}
		}
	})
}
