package compress

import (
	"reflect"
	"strings"
	"testing"
)

func TestManifestRoundTrip(t *testing.T) {
	m := newManifest()
	m.Files["pkg/app_bg.wasm"] = &manifestEntry{
		fileStamp: fileStamp{Size: 4194304, ModTime: 1764201600123456789, Tag: "W0M02HbJ43ajYmTNIj_WSe3u"},
		Variants: map[string]*manifestVariant{
			"br":   {fileStamp: fileStamp{Size: 1047754, ModTime: 1764201601000000000, Tag: "abc.br"}},
			"gzip": {NotSmaller: true},
		},
	}
	m.Files["odd \"name\"\twith\nspaces é.js"] = &manifestEntry{
		fileStamp: fileStamp{Size: 0, ModTime: -1, Tag: ""},
		Variants:  map[string]*manifestVariant{},
	}
	text := string(m.marshal())
	want := "brisk-manifest 2\n" +
		"\"odd \\\"name\\\"\\twith\\nspaces é.js\" 0 -1 -\n" +
		"\"pkg/app_bg.wasm\" 4194304 1764201600123456789 W0M02HbJ43ajYmTNIj_WSe3u\n" +
		" br 1047754 1764201601000000000 abc.br\n" +
		" gzip 0 0 - dropped\n"
	if text != want {
		t.Fatalf("marshal:\n%s\nwant:\n%s", text, want)
	}
	back, err := parseManifest(text)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip changed the manifest:\n%#v\nwant\n%#v", back, m)
	}
}

func TestManifestRejects(t *testing.T) {
	for _, text := range []string{
		"",
		"{\"version\":1,\"files\":{}}",         // the old JSON form
		"brisk-manifest 3\n",                   // a newer one
		"brisk-manifest 2\n br 1 2 x\n",        // a variant before any file
		"brisk-manifest 2\nnot-quoted 1 2 x\n", // path without quotes
		"brisk-manifest 2\n\"a\" 1 2\n",
		"brisk-manifest 2\n\"a\" -1 2 x\n",
		"brisk-manifest 2\n\"a\" 1 two x\n",
		"brisk-manifest 2\n\"a\" 1 2 x\n br 1 2 x gone\n",
		"brisk-manifest 2\n\"a\" 1 2 x\n br 1 2\n",
	} {
		if m, err := parseManifest(text); err == nil {
			t.Errorf("parseManifest(%q) accepted: %+v", text, m)
		}
	}
}

// FuzzManifest: any input is rejected or parses to a manifest that writes
// back to text parsing to the same manifest.
func FuzzManifest(f *testing.F) {
	f.Add("brisk-manifest 2\n\"a.js\" 10 20 d\n br 5 21 e.br\n zstd 0 0 - dropped\n")
	f.Add("brisk-manifest 2\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := parseManifest(text)
		if err != nil {
			return
		}
		again, err := parseManifest(string(m.marshal()))
		if err != nil {
			t.Fatalf("marshal of a parsed manifest does not parse: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip changed %q", text)
		}
		if strings.Count(string(m.marshal()), "\n") < len(m.Files)+1 {
			t.Fatal("a file without its line")
		}
	})
}
