package main

import (
	"log/slog"
	"path"

	"github.com/brisk-server/brisk/compress"
)

// hintHashedNames says once, at start, when a site's wasm has no hashed
// name: such a file is revalidated rather than cached for good, browsers
// keep no dictionary of it, and returning visitors download all of it
// after every deploy.
func hintHashedNames(snap *compress.Snapshot, log *slog.Logger) {
	var unhashed string
	for name := range snap.All() {
		if path.Ext(name) != ".wasm" {
			continue
		}
		if _, _, ok := compress.HashedName(path.Base(name)); ok {
			return
		}
		unhashed = name
	}
	if unhashed != "" {
		log.Info("no hashed wasm name: browsers revalidate it and download all of it again after each deploy",
			"path", unhashed, "hint", "cargo-leptos: hash-files = true in Cargo.toml; Trunk hashes names by default")
	}
}
