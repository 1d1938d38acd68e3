package server

import (
	"fmt"
	"net/http"
	"strings"
)

// HeaderRule adds a response header to the files whose path matches
// Pattern (the glob syntax of --cache-control): a Content-Security-Policy
// on pages, Strict-Transport-Security everywhere, an
// Access-Control-Allow-Origin on a wasm fetched from another origin. When
// several rules that match a file name the same header, the first wins.
// Rules apply to files brisk serves (the not-found page included), not
// to its own error responses or to what the upstream answers.
type HeaderRule struct {
	Pattern string
	Name    string // canonical form, e.g. "Content-Security-Policy"
	Value   string
}

// ownedHeaders are those brisk sets itself from the file and the request;
// a rule that set one would contradict the bytes sent, or the option that
// owns it.
var ownedHeaders = map[string]string{
	"Accept-Ranges":          "",
	"Age":                    "",
	"Allow":                  "",
	"Cache-Control":          "; use --cache-control",
	"Connection":             "",
	"Content-Encoding":       "",
	"Content-Length":         "",
	"Content-Range":          "",
	"Content-Type":           "",
	"Date":                   "",
	"Etag":                   "",
	"Expires":                "; use --cache-control",
	"Keep-Alive":             "",
	"Last-Modified":          "",
	"Link":                   "; brisk sends the page's preload links",
	"Location":               "",
	"Trailer":                "",
	"Transfer-Encoding":      "",
	"Upgrade":                "",
	"Use-As-Dictionary":      "",
	"Vary":                   "",
	"X-Content-Type-Options": "; brisk always sends nosniff",
}

// ParseHeaderRule reads "GLOB=Name: value", as given to --header.
func ParseHeaderRule(s string) (HeaderRule, error) {
	pattern, field, ok := cutRule(s)
	name, value, hasColon := strings.Cut(field, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || !hasColon || name == "" || value == "" {
		return HeaderRule{}, fmt.Errorf("header rule %q: want GLOB=Name: value, e.g. '*.wasm=Access-Control-Allow-Origin: *'", s)
	}
	if !validFieldName(name) {
		return HeaderRule{}, fmt.Errorf("header rule %q: %q is not a header name", s, name)
	}
	if !validFieldValue(value) {
		return HeaderRule{}, fmt.Errorf("header rule %q: the value holds a control character", s)
	}
	name = http.CanonicalHeaderKey(name)
	if why, owned := ownedHeaders[name]; owned {
		return HeaderRule{}, fmt.Errorf("header rule %q: brisk sets %s itself%s", s, name, why)
	}
	return HeaderRule{Pattern: pattern, Name: name, Value: value}, nil
}

// validFieldName reports an RFC 9110 token.
func validFieldName(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !isAlnumASCII(c) && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return s != ""
}

// validFieldValue refuses control characters but horizontal tab (RFC 9110
// §5.5), which would end the header or smuggle another one.
func validFieldValue(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// headerField is one header a rule adds, its value built once.
type headerField struct {
	name  string
	value []string
}

// headerFieldsFor returns the headers the rules add to the file at name.
func headerFieldsFor(rules []HeaderRule, name string) []headerField {
	var fields []headerField
next:
	for _, r := range rules {
		if !matchGlob(r.Pattern, name) {
			continue
		}
		for _, f := range fields {
			if f.name == r.Name {
				continue next // the first rule for a name wins
			}
		}
		fields = append(fields, headerField{r.Name, []string{r.Value}})
	}
	return fields
}
