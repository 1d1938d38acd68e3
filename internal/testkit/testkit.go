// Package testkit holds the helpers that tests of several packages share.
package testkit

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ReplaceFile writes data to name the way cargo-leptos and Trunk publish a
// rebuilt file: into a hidden temporary file beside it, renamed over it,
// so that a reader sees the old bytes or the new ones, never a part.
func ReplaceFile(tb testing.TB, name string, data []byte) {
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

// Eventually polls cond until it holds, or fails the test once within has
// passed, naming what it waited for.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
