package compress

import (
	"math"
	"sync/atomic"
)

// DefaultMemoryBudget bounds the bytes of files and variants a store keeps
// in memory. Past it, bytes stay on disk and are sent from there (with
// sendfile), so a large site does not grow the process: Fly's smallest
// machines have 256 MB in all.
const DefaultMemoryBudget = 64 << 20

// budget counts bytes held in memory against a limit, without locks.
// Bytes enter memory only through charge, and leave the count only
// through the charge's release, so 0 ≤ used ≤ limit holds at all times.
type budget struct {
	limit int64
	used  atomic.Int64
}

func newBudget(limit int64) *budget {
	switch {
	case limit == 0:
		limit = DefaultMemoryBudget
	case limit < 0:
		limit = math.MaxInt64 // no limit, but still counted
	}
	return &budget{limit: limit}
}

// charge reserves n bytes if they fit. The caller keeps the returned
// charge with the bytes and releases it when it lets go of them; nil means
// they do not fit.
func (b *budget) charge(n int64) *charge {
	for {
		used := b.used.Load()
		if n > b.limit-used {
			return nil
		}
		if b.used.CompareAndSwap(used, used+n) {
			return &charge{budget: b, n: n}
		}
	}
}

// charge is bytes reserved in a budget. Releasing it twice gives them
// back once.
type charge struct {
	budget   *budget
	n        int64
	released atomic.Bool
}

func (c *charge) release() {
	if c != nil && c.released.CompareAndSwap(false, true) {
		c.budget.used.Add(-c.n)
	}
}
