package arrays

import (
	"math"
	"runtime/debug"
)

// MemoryLimit is the most data one array may declare: the machine's
// physical memory, or GOMEMLIMIT when that is smaller. An array that
// declares more could never be held, so it is refused from its header
// instead of failing, or being killed, part way through inflating it.
func MemoryLimit() int64 {
	limit := debug.SetMemoryLimit(-1)
	if total := physicalMemory(); total > 0 && total < limit {
		limit = total
	}
	if limit <= 0 {
		return math.MaxInt64
	}
	return limit
}
