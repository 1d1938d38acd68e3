package compress

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
)

// failingOnce wraps c so that its first encode fails.
func failingOnce(c *Coding) *Coding {
	var calls atomic.Int32
	f := *c
	f.encode = func(ctx context.Context, src []byte) ([]byte, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("injected failure")
		}
		return c.encode(ctx, src)
	}
	return &f
}

// A run that was cancelled, or whose encode failed, leaves nothing
// behind: the next run makes every variant the files should have.
func TestLaterRunFinishesWhatEarlierRunsLeft(t *testing.T) {
	files := fstest.MapFS{"a.js": {Data: textLike(20_000, 1)}, "b.js": {Data: textLike(20_000, 2)}}
	gzip, _ := NewCodings("gzip", Fast)
	zstd, _ := NewCodings("zstd", Fast)
	s, err := Open(files, Config{Codings: []*Coding{failingOnce(gzip[0]), zstd[0]}, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	s.Precompress(cancelled)
	s.Precompress(context.Background()) // one gzip encode fails here
	s.Precompress(context.Background())
	for _, name := range []string{"a.js", "b.js"} {
		a, _ := s.Snapshot().Lookup(name)
		var got []string
		for _, v := range a.Variants() {
			got = append(got, v.Coding)
		}
		if len(got) != 2 {
			t.Errorf("%s has variants %q, want gzip and zstd", name, got)
		}
	}
}

// blockingCoding encodes only once release is closed.
func blockingCoding(started chan<- struct{}, release <-chan struct{}) *Coding {
	gz, _ := NewCodings("gzip", Fast)
	c := *gz[0]
	c.encode = func(ctx context.Context, src []byte) ([]byte, error) {
		started <- struct{}{}
		<-release
		return gz[0].encode(ctx, src)
	}
	return &c
}

// A run with nothing new to do says nothing at info level: not on every
// polling tick, and not "every variant is ready" while another run is
// still encoding.
func TestIdleRunsAreQuiet(t *testing.T) {
	var log bytes.Buffer
	started, release := make(chan struct{}, 1), make(chan struct{})
	s, err := Open(fstest.MapFS{"a.js": {Data: textLike(20_000, 1)}},
		Config{Codings: []*Coding{blockingCoding(started, release)}, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan []FileReport)
	go func() { first <- s.Precompress(context.Background()) }()
	<-started
	for range 3 {
		s.Precompress(context.Background()) // as a polling tick would
	}
	if log.Len() != 0 {
		t.Errorf("runs with nothing to do logged while the first still encodes:\n%s", log.String())
	}
	close(release)
	if r := <-first; len(r) != 1 || !r[0].Variants[0].Kept {
		t.Fatalf("first run: %+v", r)
	}
	log.Reset()
	s.Precompress(context.Background())
	if strings.Contains(log.String(), "level=INFO") {
		t.Errorf("a run with nothing to do logged at info:\n%s", log.String())
	}
}
