package compress

import (
	"sync/atomic"
	"time"
)

// Stats is what a store can tell about its work, for metrics.
type Stats struct {
	// Generation counts the snapshots published since the store opened:
	// it grows by one with every rebuild brisk picks up.
	Generation uint64
	Files      int   // files in the current snapshot
	MemoryUsed int64 // bytes of files and variants held in memory, sealed copies included
	Codings    []CodingStats
}

// CodingStats is one coding's share of the work.
type CodingStats struct {
	Name string
	// Pending counts the variants of the current snapshot's files that
	// are not ready yet (queued, being encoded, or failed and left for
	// the next run), leaving out those known not to pay.
	Pending int
	// Encoded counts the encodes done since the store opened, kept or
	// not; EncodeTime is the time they took.
	Encoded    int64
	EncodeTime time.Duration
}

// codingCounters accumulate one coding's encodes.
type codingCounters struct {
	encoded atomic.Int64
	nanos   atomic.Int64
}

// countEncode records one encode of coding i.
func (s *Store) countEncode(i int, took time.Duration) {
	s.counters[i].encoded.Add(1)
	s.counters[i].nanos.Add(int64(took))
}

// Stats reports the current state. It walks the current snapshot, so it is
// meant for a scrape every few seconds, not for every request.
func (s *Store) Stats() Stats {
	snap := s.Snapshot()
	st := Stats{Generation: snap.generation, Files: snap.Len(), MemoryUsed: s.MemoryUsed()}
	st.Codings = make([]CodingStats, len(s.cfg.Codings))
	s.manifestMu.Lock() // needsEncoding reads the manifest precompress updates
	defer s.manifestMu.Unlock()
	for i, c := range s.cfg.Codings {
		cs := &st.Codings[i]
		cs.Name = c.Name
		cs.Encoded = s.counters[i].encoded.Load()
		cs.EncodeTime = time.Duration(s.counters[i].nanos.Load())
		for _, a := range snap.assets {
			if a.Compressible && s.needsEncoding(encodeJob{snap: snap, asset: a, coding: c, bit: 1 << i}) {
				cs.Pending++
			}
		}
	}
	return st
}
