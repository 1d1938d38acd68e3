package server

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// headLinks calls fn with the attributes of every <link> start tag in an
// HTML page's head, that is, before a <body> tag. It knows as much HTML as
// finding those needs: comments, doctypes and processing instructions,
// quoted and unquoted attribute values, the character references that URLs
// and types use (see unescapeAttr), and elements whose content is text (a "<link" inside <script> or
// <title> is not a tag). It is written out rather than a full HTML
// tokenizer, whose tables would cost every cold start before serving.
// Attribute names are lowercased; of repeated attributes the first wins,
// as in a browser.
func headLinks(page string, fn func(attrs map[string]string)) {
	for {
		lt := strings.IndexByte(page, '<')
		if lt < 0 || lt+1 == len(page) {
			return
		}
		page = page[lt+1:]
		switch c := page[0]; {
		case strings.HasPrefix(page, "!--"):
			if page = commentEnd(page[3:]); page == "" {
				return
			}
		case c == '/' && len(page) > 1 && isASCIILetter(page[1]):
			_, _, rest, closed := startTag(page[1:]) // an end tag: quoted values may hold '>'
			if !closed {
				return
			}
			page = rest
		case c == '!' || c == '?' || c == '/':
			gt := strings.IndexByte(page, '>')
			if gt < 0 {
				return
			}
			page = page[gt+1:]
		case isASCIILetter(c):
			name, attrs, rest, closed := startTag(page)
			if !closed {
				return // a tag cut off by the end of the page is no tag
			}
			page = rest
			switch name {
			case "body":
				return
			case "link":
				fn(attrs)
			case "script", "style", "title", "textarea", "noscript", "iframe", "noembed", "noframes", "xmp":
				page = skipText(page, name)
			case "plaintext":
				return
			}
		}
	}
}

// commentEnd returns what follows a comment whose text starts at s: the
// comment ends at "-->" or "--!>", or at once at ">" or "->" (so "<!-->"
// is a whole comment). It returns "" if the page ends first.
func commentEnd(s string) string {
	for _, abrupt := range []string{">", "->"} {
		if rest, ok := strings.CutPrefix(s, abrupt); ok {
			return rest
		}
	}
	for i := 0; ; i++ {
		j := strings.Index(s[i:], "--")
		if j < 0 {
			return ""
		}
		i += j
		for _, end := range []string{"-->", "--!>"} {
			if rest, ok := strings.CutPrefix(s[i:], end); ok {
				return rest
			}
		}
	}
}

// startTag reads a start tag after its "<": its lowercased name, its
// attributes (only for <link>, the one tag whose attributes matter), the
// page after the tag, and whether a '>' closed it before the page ended.
func startTag(s string) (name string, attrs map[string]string, rest string, closed bool) {
	i := 0
	for i < len(s) && !isTagSpace(s[i]) && s[i] != '/' && s[i] != '>' {
		i++
	}
	name = strings.ToLower(s[:i])
	if name == "link" {
		attrs = map[string]string{}
	}
	for {
		for i < len(s) && (isTagSpace(s[i]) || s[i] == '/') {
			i++
		}
		if i >= len(s) {
			return name, attrs, "", false
		}
		if s[i] == '>' {
			return name, attrs, s[i+1:], true
		}
		// An attribute name runs to a space, '/', '>' or '=' (a leading
		// '=' belongs to the name, as in the HTML tokenizer).
		start := i
		i++
		for i < len(s) && !isTagSpace(s[i]) && s[i] != '/' && s[i] != '>' && s[i] != '=' {
			i++
		}
		key := strings.ToLower(s[start:i])
		value := ""
		j := i
		for j < len(s) && isTagSpace(s[j]) {
			j++
		}
		if j < len(s) && s[j] == '=' {
			j++
			for j < len(s) && isTagSpace(s[j]) {
				j++
			}
			switch {
			case j < len(s) && (s[j] == '"' || s[j] == '\''):
				end := strings.IndexByte(s[j+1:], s[j])
				if end < 0 {
					return name, attrs, "", false
				}
				value = s[j+1 : j+1+end]
				j += end + 2
			default:
				start := j
				for j < len(s) && !isTagSpace(s[j]) && s[j] != '>' {
					j++
				}
				value = s[start:j]
			}
			i = j
		}
		if attrs != nil {
			if _, seen := attrs[key]; !seen {
				attrs[key] = unescapeAttr(value)
			}
		}
	}
}

// skipText skips the text content of element name and its end tag.
func skipText(s, name string) string {
	for {
		i := strings.Index(s, "</")
		if i < 0 {
			return ""
		}
		s = s[i+2:]
		if len(s) > len(name) && strings.EqualFold(s[:len(name)], name) &&
			(isTagSpace(s[len(name)]) || s[len(name)] == '>' || s[len(name)] == '/') {
			_, _, rest, _ := startTag(s)
			return rest
		}
	}
}

// unescapeAttr decodes the character references an attribute value may
// hold: numeric ones and the named ones that URLs and MIME types use.
// Others are kept as written.
func unescapeAttr(v string) string {
	if !strings.Contains(v, "&") {
		return v
	}
	var b strings.Builder
	for {
		amp := strings.IndexByte(v, '&')
		if amp < 0 {
			b.WriteString(v)
			return b.String()
		}
		b.WriteString(v[:amp])
		v = v[amp:]
		semi := strings.IndexByte(v, ';')
		if r, ok := charRef(v[1:max(semi, 1)]); semi > 0 && ok {
			b.WriteRune(r)
			v = v[semi+1:]
			continue
		}
		b.WriteByte('&')
		v = v[1:]
	}
}

func charRef(ref string) (rune, bool) {
	switch ref {
	case "amp":
		return '&', true
	case "quot":
		return '"', true
	case "apos":
		return '\'', true
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	}
	digits, base := strings.CutPrefix(ref, "#")
	if !base || digits == "" {
		return 0, false
	}
	b := 10
	if d, hex := strings.CutPrefix(strings.ToLower(digits), "x"); hex {
		digits, b = d, 16
	}
	n, err := strconv.ParseUint(digits, b, 32)
	if err != nil || n == 0 || n > utf8.MaxRune || n >= 0xD800 && n <= 0xDFFF {
		return utf8.RuneError, err == nil
	}
	return rune(n), true
}

func isTagSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
