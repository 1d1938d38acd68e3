// Package testfile has the file operations that tests of several packages
// perform as build tools do.
package testfile

import (
	"os"
	"path/filepath"
	"testing"
)

// Replace writes data to name the way cargo-leptos and Trunk publish a
// rebuilt file: into a hidden temporary file beside it, renamed over it,
// so that a reader sees the old bytes or the new ones, never a part.
func Replace(tb testing.TB, name string, data []byte) {
	tb.Helper()
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		tb.Fatal(err)
	}
}
