package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// protocol is one way clients reach brisk, for tests that must hold over
// each: HTTP/1.1, and HTTP/2 with prior knowledge (h2c), as Fly's proxy
// speaks to an app with h2_backend.
type protocol struct {
	name string
	// client keeps its connections. It does not ask for gzip by itself:
	// tests name the encodings they want.
	client    *http.Client
	newClient func(keepAlive bool) *http.Client
	major     int // the ProtoMajor of responses
}

func newProtocol(name string, protos func(*http.Protocols), tlsConfig *tls.Config) protocol {
	major := 1
	if name != "h1" {
		major = 2
	}
	newClient := func(keepAlive bool) *http.Client {
		p := new(http.Protocols)
		protos(p)
		return &http.Client{
			// A clone each: a transport adds its ALPN protocols to the
			// configuration it is given.
			Transport: &http.Transport{Protocols: p, DisableCompression: true, DisableKeepAlives: !keepAlive,
				TLSClientConfig: tlsConfig.Clone(), ForceAttemptHTTP2: true},
			Timeout: 30 * time.Second,
			// Redirects are answers to check, not to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return protocol{name: name, client: newClient(true), newClient: newClient, major: major}
}

// fresh returns a client that sends its one request on a connection of its
// own. (A shared client without keep-alive may still dial spare HTTP/2
// connections that it then closes unused.)
func (p protocol) fresh() *http.Client { return p.newClient(false) }

// closeIdle closes the idle connections every test client keeps. An
// HTTP/2 connection that was told to go away closes a second later unless
// its client closes it first, and Go's client does not: a test that stops
// a server does this first, so as not to wait.
func closeIdle() {
	for _, p := range cleartext {
		p.client.CloseIdleConnections()
	}
}

var (
	h1  = newProtocol("h1", func(p *http.Protocols) { p.SetHTTP1(true) }, nil)
	h2c = newProtocol("h2c", func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) }, nil)
	// cleartext are the protocols of a plain listener.
	cleartext = []protocol{h1, h2c}
)

// forEachProtocol runs f as a subtest per cleartext protocol.
func forEachProtocol(t *testing.T, f func(t *testing.T, p protocol)) {
	for _, p := range cleartext {
		t.Run(p.name, func(t *testing.T) { f(t, p) })
	}
}

// send makes one request with the given header pairs over p and reads the
// whole response, checking it came over the protocol asked for; hints are
// the Link headers of the 103 Early Hints that came before it.
func (p protocol) send(t testing.TB, method, url string, header ...string) (resp *http.Response, body []byte, hints []string) {
	t.Helper()
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if code == http.StatusEarlyHints {
			hints = append(hints, h.Get("Link"))
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err = p.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", method, url, p.name, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", method, url, p.name, err)
	}
	if resp.ProtoMajor != p.major {
		t.Fatalf("%s %s over %s: answered in %s", method, url, p.name, resp.Proto)
	}
	return resp, body, hints
}

// fetch sends one request over every cleartext protocol, checks that the
// answers agree in status, headers, body and Early Hints, and returns the
// HTTP/1.1 one. So every table-driven test of the asset path holds over
// h2c too.
func fetch(t testing.TB, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	first, firstBody, firstHints := cleartext[0].send(t, method, url, header...)
	for _, p := range cleartext[1:] {
		resp, b, hints := p.send(t, method, url, header...)
		diff := responseDiff(first, firstBody, resp, b)
		if !slices.Equal(firstHints, hints) {
			diff += fmt.Sprintf("\n103 Link %q, %q", firstHints, hints)
		}
		if diff != "" {
			t.Errorf("%s %s: %s and %s answers differ:\n%s", method, url, cleartext[0].name, p.name, diff)
		}
	}
	return first, firstBody
}

// responseDiff describes how two answers to the same request differ,
// apart from the Date header.
func responseDiff(a *http.Response, aBody []byte, b *http.Response, bBody []byte) string {
	var out []string
	if a.StatusCode != b.StatusCode {
		out = append(out, fmt.Sprintf("status %d, %d", a.StatusCode, b.StatusCode))
	}
	keys := map[string]bool{}
	for k := range a.Header {
		keys[k] = true
	}
	for k := range b.Header {
		keys[k] = true
	}
	for k := range keys {
		if k != "Date" && !slices.Equal(a.Header[k], b.Header[k]) {
			out = append(out, fmt.Sprintf("%s %q, %q", k, a.Header[k], b.Header[k]))
		}
	}
	if a.ContentLength != b.ContentLength {
		out = append(out, fmt.Sprintf("Content-Length %d, %d", a.ContentLength, b.ContentLength))
	}
	if !bytes.Equal(aBody, bBody) {
		out = append(out, fmt.Sprintf("body %d bytes, %d bytes", len(aBody), len(bBody)))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// loopbacks are the base URLs of servers started by newLoopbackServer;
// stopped, the servers it has stopped since.
var loopbacks, stopped sync.Map // *Server → string, *Server → bool

// do sends one request to srv over a real loopback connection in each
// cleartext protocol (see fetch), starting srv on first use, and returns
// the HTTP/1.1 answer with its body ready to read again. A server started
// here stops when t ends and cannot serve again: one that subtests or
// fuzz inputs share must be started with newLoopbackServer where it is
// made.
func do(t testing.TB, srv *Server, method, target string, header ...string) *http.Response {
	t.Helper()
	base, ok := loopbacks.Load(srv)
	if !ok {
		if _, was := stopped.Load(srv); was {
			t.Fatal("do: the server stopped with the test that first used it; start it with newLoopbackServer where it is made")
		}
		base = newLoopbackServer(t, srv)
	}
	resp, b := fetch(t, method, base.(string)+target, header...)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// doInProcess hands srv one request without a connection (httptest), for
// the few tests that need to set what a connection would decide, such as
// the peer's address.
func doInProcess(t testing.TB, srv *Server, method, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec.Result()
}
