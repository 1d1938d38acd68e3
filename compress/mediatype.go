package compress

import (
	"path"
	"strings"
)

// fileKind is what brisk knows about a file from its extension alone.
type fileKind struct {
	mediaType    string
	compressible bool
}

// kinds is pinned rather than read from the host's mime.types: a container
// without /etc/mime.types, or a distribution that maps .wasm oddly, must not
// change what browsers receive. WebAssembly streaming compilation accepts
// exactly "application/wasm", with no parameters.
var kinds = map[string]fileKind{
	".html":        {"text/html; charset=utf-8", true},
	".htm":         {"text/html; charset=utf-8", true},
	".css":         {"text/css; charset=utf-8", true},
	".js":          {"text/javascript; charset=utf-8", true},
	".mjs":         {"text/javascript; charset=utf-8", true},
	".cjs":         {"text/javascript; charset=utf-8", true},
	".json":        {"application/json", true},
	".map":         {"application/json", true},
	".webmanifest": {"application/manifest+json", true},
	".wasm":        {"application/wasm", true},
	".svg":         {"image/svg+xml", true},
	".txt":         {"text/plain; charset=utf-8", true},
	".md":          {"text/markdown; charset=utf-8", true},
	".csv":         {"text/csv; charset=utf-8", true},
	".xml":         {"application/xml", true},
	".ico":         {"image/x-icon", true},
	".ttf":         {"font/ttf", true},
	".otf":         {"font/otf", true},
	".woff":        {"font/woff", false},
	".woff2":       {"font/woff2", false},
	".png":         {"image/png", false},
	".jpg":         {"image/jpeg", false},
	".jpeg":        {"image/jpeg", false},
	".gif":         {"image/gif", false},
	".webp":        {"image/webp", false},
	".avif":        {"image/avif", false},
	".mp4":         {"video/mp4", false},
	".webm":        {"video/webm", false},
	".mp3":         {"audio/mpeg", false},
	".ogg":         {"audio/ogg", false},
	".pdf":         {"application/pdf", false},
	".zip":         {"application/zip", false},
	".gz":          {"application/gzip", false},
	".br":          {"application/octet-stream", false},
	".zst":         {"application/zstd", false},
}

// unknownKind is served as opaque bytes and left alone: guessing that an
// unknown format is text would waste CPU on, say, an already-packed blob.
var unknownKind = fileKind{"application/octet-stream", false}

func kindOf(name string) fileKind {
	if k, ok := kinds[strings.ToLower(path.Ext(name))]; ok {
		return k
	}
	return unknownKind
}
