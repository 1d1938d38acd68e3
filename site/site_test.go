package site

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	indexPath  = "index.html"
	gluePath   = "pkg/brisk_demo.js"
	wasmPath   = "pkg/brisk_demo_bg.wasm"
	cssPath    = "pkg/brisk_demo.css"
	reportPath = "report.js"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(FS(), name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFSFiles(t *testing.T) {
	tests := []struct {
		name    string
		minSize int
		want    []string // substrings the file must contain
	}{
		{indexPath, 1, []string{
			`<script type="module">`,
			`<link rel="modulepreload" href="/pkg/brisk_demo.js">`,
			`<link rel="preload" href="/pkg/brisk_demo_bg.wasm" as="fetch" type="application/wasm" crossorigin>`,
			`<link rel="stylesheet" href="/pkg/brisk_demo.css">`,
			`import("/report.js")`,
			`dataset.wasm = "ready"`,
			`dataset.wasm = "error"`,
			`dataset.wasm = "unsupported"`,
			`<table id="report" data-state="loading"`,
			`<ul id="report-notes"`,
			"<code>brisk serve target/site</code>",
		}},
		{gluePath, 1, []string{
			"WebAssembly.instantiateStreaming(",
			"instantiateStreaming failed",
			"WebAssembly.instantiate(await",
			`new URL("brisk_demo_bg.wasm", import.meta.url)`,
			"export const INSTANTIATE_MEASURE",
			"performance.measure(INSTANTIATE_MEASURE",
		}},
		{wasmPath, 100 << 10, []string{string(wasmHeader)}},
		{cssPath, 1, nil},
		{reportPath, 1, []string{
			"export async function showReport(table, notes, instantiated)",
			`performance.getEntriesByType("navigation")`,
			`performance.getEntriesByType("resource")`,
			`cache: "only-if-cached", mode: "same-origin"`,
			"delta against the previous version",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := readFile(t, tt.name)
			if len(b) < tt.minSize {
				t.Errorf("%d bytes, want at least %d", len(b), tt.minSize)
			}
			for _, s := range tt.want {
				if !bytes.Contains(b, []byte(s)) {
					t.Errorf("does not contain %q", s)
				}
			}
		})
	}
}

// TestFSNoHiddenFiles guards the choice of //go:embed dist over all:dist.
func TestFSNoHiddenFiles(t *testing.T) {
	err := fs.WalkDir(FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n := d.Name(); path != "." && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
			t.Errorf("embedded hidden file %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rootRefRE matches the root-relative URLs in index.html: attributes and the
// glue's dynamic import.
var rootRefRE = regexp.MustCompile(`(?:href|src)="/([^"]*)"|import\("/([^"]*)"\)`)

func TestIndexReferencesExist(t *testing.T) {
	refs := rootRefRE.FindAllStringSubmatch(string(readFile(t, indexPath)), -1)
	if len(refs) == 0 {
		t.Fatal("no root-relative references found")
	}
	for _, m := range refs {
		name := m[1] + m[2]
		if _, err := fs.Stat(FS(), name); err != nil {
			t.Errorf("index.html refers to /%s: %v", name, err)
		}
	}
}

// TestIndexReferencesEveryFile: the page's report lists the files the page
// loaded, so every file of the demo must be one of them.
func TestIndexReferencesEveryFile(t *testing.T) {
	refs := make(map[string]bool)
	for _, m := range rootRefRE.FindAllStringSubmatch(string(readFile(t, indexPath)), -1) {
		refs[m[1]+m[2]] = true
	}
	err := fs.WalkDir(FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == indexPath {
			return err
		}
		if !refs[path] {
			t.Errorf("index.html never refers to /%s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// glueExportRE matches the glue's uses of the module's exports. The glue
// must reach every export through a variable named exports for this to see it.
var glueExportRE = regexp.MustCompile(`\bexports\.([A-Za-z_$][\w$]*)`)

// glueWASI returns the method names of the glue's wasi object, the import
// object's wasi_snapshot_preview1 namespace. The object must be written as
// `const wasi = {` ... `};` with its methods indented by two spaces.
func glueWASI(t *testing.T, glue string) map[string]bool {
	t.Helper()
	if !strings.Contains(glue, "{ wasi_snapshot_preview1: wasi }") {
		t.Fatal("glue does not pass its wasi object as wasi_snapshot_preview1")
	}
	_, body, ok := strings.Cut(glue, "\nconst wasi = {\n")
	if ok {
		body, _, ok = strings.Cut(body, "\n};\n")
	}
	if !ok {
		t.Fatal("glue has no `const wasi = {` ... `};` block")
	}
	names := make(map[string]bool)
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z_0-9]+)\(`).FindAllStringSubmatch(body, -1) {
		names[m[1]] = true
	}
	return names
}

func TestWasmMatchesGlue(t *testing.T) {
	mod, err := parseWasm(readFile(t, wasmPath))
	if err != nil {
		t.Fatal(err)
	}
	glue := string(readFile(t, gluePath))

	exports := make(map[string]byte)
	for _, e := range mod.exports {
		exports[e.name] = e.kind
	}
	used := make(map[string]bool)
	for _, m := range glueExportRE.FindAllStringSubmatch(glue, -1) {
		used[m[1]] = true
	}
	// A reactor must be initialised, and the glue reads strings from memory:
	// if the regexp stopped finding these, it would find nothing at all.
	for _, name := range []string{"_initialize", "memory"} {
		if !used[name] {
			t.Errorf("glue never uses exports.%s", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(used)) {
		kind, ok := exports[name]
		want := byte(kindFunc)
		if name == "memory" {
			want = kindMemory
		}
		switch {
		case !ok:
			t.Errorf("glue uses exports.%s, which the wasm module lacks", name)
		case kind != want:
			t.Errorf("export %s has kind %#x, want %#x", name, kind, want)
		}
	}

	provided := glueWASI(t, glue)
	if !provided["fd_write"] {
		t.Errorf("found no fd_write in the glue's wasi object (found %v)", slices.Sorted(maps.Keys(provided)))
	}
	if len(mod.imports) == 0 {
		t.Error("wasm module imports nothing; expected the WASI functions of Go's runtime")
	}
	for _, imp := range mod.imports {
		switch {
		case imp.module != "wasi_snapshot_preview1":
			t.Errorf("import %s.%s: glue only provides wasi_snapshot_preview1", imp.module, imp.name)
		case imp.kind != kindFunc:
			t.Errorf("import %s.%s has kind %#x, want a function", imp.module, imp.name, imp.kind)
		case !provided[imp.name]:
			t.Errorf("wasm module imports %s.%s, which the glue does not provide", imp.module, imp.name)
		}
	}
}

// wasmexportRE matches the export directives in ./wasmapp.
var wasmexportRE = regexp.MustCompile(`(?m)^//go:wasmexport ([^\s]+)\s*$`)

// TestWasmExportsMatchSource is a cheap staleness check: the committed module
// must export exactly what the Go source declares, which catches an export
// added or removed without `go generate ./site`.
func TestWasmExportsMatchSource(t *testing.T) {
	mod, err := parseWasm(readFile(t, wasmPath))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range mod.exports {
		got = append(got, e.name)
	}

	want := []string{"_initialize", "memory"} // added by the c-shared linker
	src := os.DirFS("wasmapp")
	files, err := fs.Glob(src, "*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in wasmapp: %v", err)
	}
	for _, name := range files {
		b, err := fs.ReadFile(src, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range wasmexportRE.FindAllSubmatch(b, -1) {
			want = append(want, string(m[1]))
		}
	}

	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("wasm exports %v, source declares %v; run go generate ./site", got, want)
	}
}

func TestParseWasm(t *testing.T) {
	header := string(wasmHeader)
	tests := []struct {
		name    string
		in      string
		imports []wasmImport
		exports []wasmExport
		wantErr string
	}{
		{name: "empty module", in: header},
		{
			name: "imports and exports",
			in: header +
				"\x00\x04\x01a\xff\xff" + // custom section, skipped
				"\x02\x15\x02" + // import section, two entries
				"\x03env\x01f\x00\x00" + // env.f: func type 0
				"\x03env\x03mem\x02\x01\x01\x02" + // env.mem: memory min 1 max 2
				"\x07\x0d\x02" + // export section, two entries
				"\x03run\x00\x01" + // run: func 1
				"\x03tab\x01\x00", // tab: table 0
			imports: []wasmImport{{"env", "f", kindFunc}, {"env", "mem", kindMemory}},
			exports: []wasmExport{{"run", kindFunc}, {"tab", kindTable}},
		},
		{name: "multi-byte LEB128", in: header + "\x07\x87\x80\x80\x80\x00\x01\x03run\x00\x00",
			exports: []wasmExport{{"run", kindFunc}}},
		{name: "too short", in: "\x00as", wantErr: "magic"},
		{name: "bad magic", in: "\x00wasm\x01\x00\x00", wantErr: "magic"},
		{name: "version 2", in: "\x00asm\x02\x00\x00\x00", wantErr: "version"},
		{name: "section past end", in: header + "\x07\x05\x01", wantErr: "end of data"},
		{name: "section missing size", in: header + "\x07", wantErr: "end of data"},
		{name: "name past end", in: header + "\x07\x03\x01\x09r", wantErr: "end of data"},
		{name: "leftover bytes", in: header + "\x07\x08\x01\x03run\x00\x00\x00", wantErr: "left over"},
		{name: "LEB128 too long", in: header + "\x07\x80\x80\x80\x80\x80\x00", wantErr: "LEB128"},
		{name: "LEB128 overflows u32", in: header + "\x07\x80\x80\x80\x80\x10", wantErr: "LEB128"},
		{name: "unknown import kind", in: header + "\x02\x06\x01\x01m\x01n\x09", wantErr: "unknown kind"},
		{name: "name not UTF-8", in: header + "\x07\x05\x01\x01\xff\x00\x00", wantErr: "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseWasm([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.imports, tt.imports) {
				t.Errorf("imports = %v, want %v", m.imports, tt.imports)
			}
			if !slices.Equal(m.exports, tt.exports) {
				t.Errorf("exports = %v, want %v", m.exports, tt.exports)
			}
		})
	}
}
