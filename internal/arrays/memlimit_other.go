//go:build !linux

package arrays

// physicalMemory is unknown off Linux; GOMEMLIMIT still bounds arrays.
func physicalMemory() int64 { return 0 }
