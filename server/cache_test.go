package server

import (
	"regexp"
	"testing"
)

// hashedNameSpec is the definition hashedName implements by hand: the
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
		if got, want := hashedName(name), hashedNameSpec.MatchString(name); got != want {
			t.Errorf("hashedName(%q) = %v, want %v", name, got, want)
		}
	}
}

func FuzzHashedName(f *testing.F) {
	for _, name := range hashedNameCases {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := hashedName(name), hashedNameSpec.MatchString(name); got != want {
			t.Errorf("hashedName(%q) = %v, want %v", name, got, want)
		}
	})
}
