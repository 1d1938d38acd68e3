package server

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// tokenizerLinks is what the full HTML tokenizer finds: the oracle for
// headLinks on pages that real tools write.
func tokenizerLinks(page string) []string {
	var out []string
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tag, hasAttr := z.TagName()
		if string(tag) == "body" {
			return out
		}
		if string(tag) != "link" {
			continue
		}
		attrs := map[string]string{}
		for hasAttr {
			var k, v []byte
			k, v, hasAttr = z.TagAttr()
			if _, seen := attrs[string(k)]; !seen {
				attrs[string(k)] = string(v)
			}
		}
		out = append(out, renderAttrs(attrs))
	}
}

func scannedLinks(page string) []string {
	var out []string
	headLinks(page, func(attrs map[string]string) { out = append(out, renderAttrs(attrs)) })
	return out
}

func renderAttrs(attrs map[string]string) string {
	return fmt.Sprintf("%q %q %q %q crossorigin=%v", attrs["rel"], attrs["href"], attrs["as"], attrs["type"], attrs["crossorigin"] != "" || hasKey(attrs, "crossorigin"))
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

var headPages = []string{
	// cargo-leptos
	`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/><link rel="modulepreload" href="/pkg/todo.js" crossorigin=""><link rel="preload" href="/pkg/todo_bg.wasm" as="fetch" type="application/wasm" crossorigin=""><script type="module">import init from '/pkg/todo.js';init('/pkg/todo_bg.wasm');</script></head><body></body></html>`,
	// Trunk
	"<!DOCTYPE html>\n<html>\n  <head>\n    <link rel=\"preload\" href=\"/app-8f2c4b1e9d0a7c63_bg.wasm\" as=\"fetch\" type=\"application/wasm\" crossorigin=\"anonymous\" integrity=\"sha384-x\">\n    <link rel=\"modulepreload\" href=\"/app-8f2c4b1e9d0a7c63.js\" crossorigin=\"anonymous\" integrity=\"sha384-y\">\n  </head>\n  <body><link rel=\"preload\" href=\"/late.wasm\"></body>\n</html>\n",
	// case, quotes, spacing, self-closing, entities
	`<HEAD><LINK REL=PreLoad HREF='/a.wasm?x=1&amp;y=2' AS = fetch /><link rel="modulepreload" href="/b&#46;js" type=text/javascript/>`,
	`<link rel=preload href=/c.wasm><link/rel="preload"/href="/d.wasm">`,
	// not tags: comments, script and title text, end tags
	`<head><!-- <link rel="preload" href="/no1.wasm"> --><script>document.write('<link rel="preload" href="/no2.wasm">')</script><title><link rel=preload href=/no3.wasm></title></head><link rel=preload href=/yes.wasm>`,
	`<head><style>a{}</style ><noscript><link rel=preload href=/no.wasm></noscript><link rel="preload" href="/e.wasm"></head>`,
	// first of repeated attributes wins; unterminated things end the scan
	`<link rel="preload" rel="stylesheet" href="/f.wasm" href="/g.wasm"><link rel="preload" href="/h`,
	`<link rel=preload href=/i.wasm><!-- unterminated <link rel=preload href=/j.wasm>`,
	`<?xml version="1.0"?><!DOCTYPE html><link rel="preload" href="/k.wasm" crossorigin>`,
	`<!--><link rel=preload href=/l.wasm><!---><link rel=preload href=/m.wasm><!--[if !IE]><!--><link rel=preload href=/n.wasm><!--<![endif]-->`,
	`<!-- a --!><link rel=preload href=/o.wasm><!-- b ---><link rel=preload href=/p.wasm><!-- c -- d --><link rel=preload href=/q.wasm>`,
	`<sCript>x</sCript <title><link rel=preload href=/r.wasm></script a=">"><link rel=preload href=/s.wasm>`,
	``, `<`, `<link`, `<link rel`, `<link rel=`, `<link rel="`,
}

func TestHeadLinksAgreeWithTheTokenizer(t *testing.T) {
	pages := headPages
	demo, err := os.ReadFile("../site/dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, string(demo))
	for _, page := range pages {
		got, want := scannedLinks(page), tokenizerLinks(page)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("page %q:\n got %q\nwant %q", page, got, want)
		}
	}
	if got := scannedLinks(string(demo)); len(got) != 4 {
		t.Errorf("demo page: %d links, want 4: %q", len(got), got)
	}
}

func TestUnescapeAttr(t *testing.T) {
	for in, want := range map[string]string{
		"/a?x=1&amp;y=2":                        "/a?x=1&y=2",
		"&lt;&gt;&quot;&apos;&#65;&#x42;&#X43;": `<>"'ABC`,
		"&nbsp;&":                               "&nbsp;&",
		"&#;&#x;&#0;":                           "&#;&#x;\uFFFD",
		"&#xD800;":                              "\uFFFD",
	} {
		if got := unescapeAttr(in); got != want {
			t.Errorf("unescapeAttr(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzHeadLinks compares headLinks with the full tokenizer on any input
// without the three things the scanner knowingly does differently: the
// character references it does not decode ("&"), and the NUL and CR bytes
// the tokenizer rewrites.
func FuzzHeadLinks(f *testing.F) {
	for _, p := range headPages {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, page string) {
		if strings.ContainsAny(page, "&\x00\r") {
			headLinks(page, func(map[string]string) {}) // must still end without a panic
			return
		}
		got, want := scannedLinks(page), tokenizerLinks(page)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("page %q:\n got %q\nwant %q", page, got, want)
		}
	})
}
