package compress

import "sync/atomic"

// DefaultMemoryBudget bounds the bytes of files and variants a store keeps
// in memory. Past it, bytes stay on disk and are sent from there (with
// sendfile), so a large site does not grow the process: Fly's smallest
// machines have 256 MB in all.
const DefaultMemoryBudget = 64 << 20

// budget counts bytes held in memory against a limit, without locks.
type budget struct {
	limit int64
	used  atomic.Int64
}

// take reserves n bytes if they fit.
func (b *budget) take(n int64) bool {
	if b == nil {
		return true
	}
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// give returns n bytes.
func (b *budget) give(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}
