package compress

import (
	"regexp"
	"strings"
	"testing"
)

// hashedNameSpec is the definition HashedName implements by hand: the
// test keeps it as the oracle.
var hashedNameSpec = regexp.MustCompile(`(?s)^.+(\.[A-Za-z0-9_-]{22}\.|-[0-9a-f]{16}(_bg)?\.)[A-Za-z0-9]+$`)

var hashedNameCases = []string{
	"app.Ab3_x-9ZKq1mN0pQrStUvW.wasm",
	"a.b.Ab3_x-9ZKq1mN0pQrStUvW.js",
	".Ab3_x-9ZKq1mN0pQrStUvW.wasm", // nothing before the hash
	"app.Ab3_x-9ZKq1mN0pQrStUv.wasm",
	"app.Ab3_x-9ZKq1mN0pQrStUvW.",
	"app.Ab3_x-9ZKq1mN0pQrStUvW.w-a",
	"app.Ab3_x-9ZKq1mN0pQrStUvW.wasm.br",
	"app-Ab3_x-9ZKq1mN0pQrStUvW.wasm",
	"todo-8f2c4b1e9d0a7c63.js",
	"todo-8f2c4b1e9d0a7c63_bg.wasm",
	"-8f2c4b1e9d0a7c63.js",
	"t-8f2c4b1e9d0a7c63_bg_bg.wasm",
	"t-8f2c4b1e9d0a7c6.js",
	"t-8F2C4B1E9D0A7C63.js",
	"t_8f2c4b1e9d0a7c63.js",
	"t-8f2c4b1e9d0a7c63",
	"-8f2c4b1e9d0a7c63_bg.wasm",
	"x-0123456789abcdef_bg.wasm",
	"",
	".",
	"noext",
	"\n-8f2c4b1e9d0a7c63.js",
	"\xff.Ab3_x-9ZKq1mN0pQrStUvW.wasm",
}

func TestHashedNameMatchesItsSpec(t *testing.T) {
	for _, name := range hashedNameCases {
		checkHashedName(t, name)
	}
}

func FuzzHashedName(f *testing.F) {
	for _, name := range hashedNameCases {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		checkHashedName(t, name)
	})
}

// checkHashedName compares HashedName with the spec, and checks that the
// parts it returns are the name around a hash of the right shape.
func checkHashedName(t *testing.T, name string) {
	t.Helper()
	prefix, suffix, ok := HashedName(name)
	if want := hashedNameSpec.MatchString(name); ok != want {
		t.Fatalf("HashedName(%q) ok = %v, want %v", name, ok, want)
	}
	if !ok {
		return
	}
	hash, afterPrefix := strings.CutPrefix(name, prefix)
	hash, beforeSuffix := strings.CutSuffix(hash, suffix)
	if !afterPrefix || !beforeSuffix || prefix == "" || suffix == "" ||
		!(len(hash) == 22 && strings.HasSuffix(prefix, ".") || len(hash) == 16 && strings.HasSuffix(prefix, "-")) {
		t.Errorf("HashedName(%q) = %q, %q: not the name around a hash", name, prefix, suffix)
	}
}

func TestFamily(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"pkg/app.Ab3_x-9ZKq1mN0pQrStUvW.wasm", "pkg/app.*.wasm"},
		{"pkg/app.zzzzzzzzzzzzzzzzzzzzzz.wasm", "pkg/app.*.wasm"},
		{"todo-8f2c4b1e9d0a7c63_bg.wasm", "todo-*_bg.wasm"},
		{"todo-0123456789abcdef.js", "todo-*.js"},
		{"a/b/todo-0123456789abcdef.js", "a/b/todo-*.js"},
		{"pkg/app.wasm", ""},
	} {
		got, ok := family(c.name)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("family(%q) = %q, %v; want %q", c.name, got, ok, c.want)
		}
	}
}
