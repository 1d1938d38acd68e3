// Package site holds brisk's built-in demo: a small WebAssembly app laid out
// like the pkg directory that wasm-bindgen and Leptos emit (an index.html, an
// ES-module glue file, a _bg.wasm module and a stylesheet), so that the server
// has a realistic, self-contained app to serve and to test against without any
// files on disk.
//
// The wasm module is built from the Go program in ./wasmapp as a WASI
// reactor. The built file is committed, so a fresh clone serves the demo
// without a wasm toolchain step; after changing ./wasmapp, rebuild it with
//
//	go generate ./site
package site

import (
	"embed"
	"io/fs"
)

// -buildvcs=false keeps the module byte-for-byte reproducible: otherwise the
// commit hash and dirty flag would be stamped in and change it on every commit.
//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -buildvcs=false "-ldflags=-s -w" -o dist/pkg/brisk_demo_bg.wasm ./wasmapp

// dist is embedded without the all: prefix on purpose: files whose names start
// with "." or "_" (editor and OS droppings) must never be served.
//
//go:embed dist
var dist embed.FS

// root is dist with its top directory stripped, computed once.
var root = sub(dist, "dist")

// FS returns the demo app as a read-only file system with index.html at its
// top and the glue, wasm and stylesheet under pkg/.
func FS() fs.FS {
	return root
}

// sub is fs.Sub without the error. fs.Sub only fails for an invalid path
// name, which the constant "dist" is not; should it ever fail anyway, the
// whole embedded tree is returned so that callers see missing files rather
// than a panic at start-up.
func sub(fsys fs.FS, dir string) fs.FS {
	s, err := fs.Sub(fsys, dir)
	if err != nil {
		return fsys
	}
	return s
}
