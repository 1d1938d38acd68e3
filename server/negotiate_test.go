package server

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/brisk-server/brisk/compress"
)

// sizedReps builds an identity of 1000 bytes and variants br < zstd < gzip,
// the usual order for text, smallest first as compress publishes them.
func sizedReps(codings ...string) (*compress.Representation, []compress.Representation) {
	sizes := map[string]int{"br": 100, "zstd": 110, "gzip": 120}
	id := compress.InMemory("", make([]byte, 1000))
	identity := &id
	var vs []compress.Representation
	for _, c := range []string{"br", "zstd", "gzip"} {
		for _, want := range codings {
			if c == want {
				vs = append(vs, compress.InMemory(c, make([]byte, sizes[c])))
			}
		}
	}
	return identity, vs
}

const refused = "406"

func TestNegotiate(t *testing.T) {
	all := []string{"br", "zstd", "gzip"}
	tests := []struct {
		rfc       string // RFC 9110 section the case rests on
		lines     []string
		available []string
		want      string // "" = identity, refused = 406
	}{
		{"§12.5.3 no field: identity", nil, all, ""},
		{"§12.5.3 empty field: no coding preferred", []string{""}, all, ""},
		{"§12.5.3 q=0 refuses br", []string{"gzip;q=1.0, br;q=0"}, all, "gzip"},
		{"§12.4.2 highest q wins", []string{"br;q=0.5, gzip;q=0.9"}, all, "gzip"},
		{"§12.5.3 equal q: smallest", []string{"gzip, deflate, br, zstd"}, all, "br"},
		{"§12.5.3 * matches every coding", []string{"*"}, all, "br"},
		{"§12.5.3 only unknown codings: identity", []string{"compress, deflate"}, all, ""},
		{"§12.5.3 identity named", []string{"identity"}, all, ""},
		{"§12.5.3 identity;q=0 with nothing else", []string{"identity;q=0"}, nil, refused},
		{"§12.5.3 identity;q=0 but br acceptable", []string{"identity;q=0, br"}, all, "br"},
		{"§12.5.3 *;q=0 excludes identity", []string{"*;q=0"}, all, refused},
		{"§12.5.3 *;q=0 but identity named", []string{"*;q=0, identity"}, all, ""},
		{"§12.5.3 br refused, * takes the rest", []string{"br;q=0, *"}, all, "zstd"},
		{"§12.5.3 identity named above *", []string{"identity;q=0.5, *;q=0.3"}, all, ""},
		{"§12.5.3 * ties identity: smallest wins", []string{"*;q=0.5"}, all, "br"},
		{"§12.5.3 unnamed identity ranks below any q>0", []string{"br;q=0.001"}, all, "br"},
		{"§12.5.3 coding not available: identity", []string{"zstd"}, []string{"br", "gzip"}, ""},
		{"§12.5.3 no variants yet: identity", []string{"br, gzip"}, nil, ""},
		{"§8.4.1.3 x-gzip is gzip", []string{"x-gzip"}, all, "gzip"},
		{"§8.4.1 tokens are case-insensitive", []string{"BR;Q=1"}, all, "br"},
		{"§8.4.1 the alias too", []string{"X-Gzip"}, all, "gzip"},
		{"§5.6.2 tokens are ASCII: a long s is no s", []string{"zſtd"}, []string{"zstd"}, ""},
		{"§12.4.2 equal q spelled differently", []string{"gzip;q=0.5, zstd;q=0.500"}, all, "zstd"},
		{"§12.4.2 q above 1 is invalid: refused", []string{"br;q=1.5"}, all, ""},
		{"§12.4.2 q not a number: refused", []string{"br;q=abc, gzip;q=0.1"}, all, "gzip"},
		{"§12.4.2 four decimals: invalid, refused", []string{"br;q=0.0000, *"}, all, "zstd"},
		{"§5.6.6 whitespace around parameters", []string{" br ; q=0.8 , gzip;Q=0.9 "}, all, "gzip"},
		{"§5.6.6 other parameters ignored", []string{"br;level=5"}, all, "br"},
		{"§5.6.1 empty list elements", []string{" , ,br,"}, all, "br"},
		{"§5.3 field lines combine", []string{"br;q=0", "gzip"}, all, "gzip"},
		{"repeated coding: refusal wins", []string{"br, br;q=0"}, []string{"br"}, ""},
		{"repeated q parameter: zero wins", []string{"br;q=1;q=0, gzip;q=0.1"}, all, "gzip"},
		{"§12.5.3 * below a named coding", []string{"*;q=0.1, gzip;q=0.2"}, all, "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.rfc, func(t *testing.T) {
			identity, variants := sizedReps(tt.available...)
			rep, ok := negotiate(tt.lines, identity, variants)
			got := refused
			if ok {
				got = rep.Coding
			}
			if got != tt.want {
				t.Errorf("Accept-Encoding %q with %v: got %q, want %q", tt.lines, tt.available, got, tt.want)
			}
		})
	}
}

// Every coding brisk sends is read in the one pass over the header; one
// that is not (a coding added later) is still weighed by name, so that a
// client that refused it by name is never sent it through "*".
func TestAcceptanceCoversWhatBriskSends(t *testing.T) {
	codings, err := compress.NewCodings("br,zstd,gzip", compress.Fast)
	if err != nil {
		t.Fatal(err)
	}
	streams, err := compress.NewStreamCodings("br,zstd,gzip")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"identity", compress.DeltaBrotli, compress.DeltaZstd}
	for _, c := range codings {
		names = append(names, c.Name)
	}
	for _, c := range streams {
		names = append(names, c.Name)
	}
	for _, name := range names {
		if !slices.Contains(sendable[:], name) {
			t.Errorf("%s is not in sendable: each negotiation reads the header again for it", name)
		}
	}

	identity := compress.InMemory("", make([]byte, 1000))
	other := []compress.Representation{compress.InMemory("x-other", make([]byte, 10))}
	for header, want := range map[string]string{
		"x-other;q=0, *":               "",
		"*, X-OTHER;q=0":               "",
		"*":                            "x-other",
		"X-Other":                      "x-other",
		"*;q=0, x-other;q=0.5":         "x-other",
		"br, gzip":                     "",
		"x-other;q=0, identity;q=0, *": refused,
	} {
		rep, ok := negotiate([]string{header}, &identity, other)
		got := refused
		if ok {
			got = rep.Coding
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", header, got, want)
		}
	}
}

func TestParseQValue(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"1", 1000, true}, {"1.", 1000, true}, {"1.000", 1000, true}, {"0", 0, true},
		{"0.5", 500, true}, {"0.05", 50, true}, {"0.123", 123, true}, {"0.", 0, true},
		{"1.001", 0, false}, {"2", 0, false}, {"0.1234", 0, false}, {"-0", 0, false},
		{"", 0, false}, {".5", 0, false}, {"0,5", 0, false}, {"1e0", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseQValue(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseQValue(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// qValueSyntax is RFC 9110 §12.4.2's qvalue.
var qValueSyntax = regexp.MustCompile(`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`)

// refusedByClient is an independent reading of a header: does any element
// name coding (or "*", when coding is not named) with a q that is zero?
// wellFormed is false when some q does not follow the RFC's syntax, which
// brisk reads as a refusal.
func refusedByClient(header, coding string) (refused, wellFormed bool) {
	named, starZero, namedZero := false, false, false
	wellFormed = true
	for _, elem := range strings.Split(header, ",") {
		token, params, _ := strings.Cut(elem, ";")
		token = strings.ToLower(strings.TrimSpace(token))
		zero := false
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				wellFormed = wellFormed && qValueSyntax.MatchString(strings.TrimSpace(v))
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f == 0 {
					zero = true
				}
			}
		}
		switch {
		case token == coding || (coding == "gzip" && token == "x-gzip"):
			named = true
			namedZero = namedZero || zero
		case token == "*":
			starZero = starZero || zero
		}
	}
	if named {
		return namedZero, wellFormed
	}
	return starZero, wellFormed
}

// FuzzNegotiate: whatever the header, negotiation never panics and never
// picks a coding the client refused or did not ask for.
func FuzzNegotiate(f *testing.F) {
	for _, seed := range []string{
		"", "*", "br", "gzip;q=1.0, br;q=0", "br;q=0.5, gzip;q=0.9", "identity;q=0",
		"*;q=0", "x-gzip", "BR;Q=0.001", "br;q=1;q=0", ",,;", "br;q=", ";q=0",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		identity, variants := sizedReps("br", "zstd", "gzip")
		rep, ok := negotiate([]string{header}, identity, variants)
		if !ok {
			if refused, wellFormed := refusedByClient(header, "identity"); !refused && wellFormed {
				t.Fatalf("%q: 406, but identity was not refused", header)
			}
			return
		}
		coding := rep.Coding
		if coding == "" {
			coding = "identity"
		}
		if refused, _ := refusedByClient(header, coding); refused {
			t.Fatalf("%q: chose %s, which the client refused", header, coding)
		}
		if rep.Coding != "" && !mentions(header, rep.Coding) {
			t.Fatalf("%q: chose %s, which the client did not ask for", header, rep.Coding)
		}
	})
}

func mentions(header, coding string) bool {
	h := strings.ToLower(header)
	return strings.Contains(h, coding) || strings.Contains(h, "*")
}

func BenchmarkNegotiate(b *testing.B) {
	identity, variants := sizedReps("br", "zstd", "gzip")
	lines := []string{"gzip, deflate, br, zstd"}
	b.ReportAllocs()
	for b.Loop() {
		if rep, _ := negotiate(lines, identity, variants); rep.Coding != "br" {
			b.Fatal(rep.Coding)
		}
	}
}
