package scoring

import "math"

// Bucket is one of the score's epsilon buckets: examples with Lo <= epsilon
// < Hi earn Points.
type Bucket struct {
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
	Points float64 `json:"points"`
}

// MaxEpsilon is ceil(ln(N - 1)), the original's bound on the epsilon that N
// models per population can show; N must be at least 3.
func MaxEpsilon(n int) float64 { return math.Ceil(math.Log(float64(n - 1))) }

// Buckets returns the score's buckets for N models per population: width
// 0.5 from 0, bucket k worth 2^-k points, only those ending at or below
// MaxEpsilon(N). N = 512 gives 14 buckets, N = 3 gives 2.
func Buckets(n int) []Bucket {
	maxEps := MaxEpsilon(n)
	var out []Bucket
	points := 1.0
	for lo := 0.0; lo+0.5 <= maxEps; lo += 0.5 {
		out = append(out, Bucket{Lo: lo, Hi: lo + 0.5, Points: points})
		points /= 2
	}
	return out
}

// BucketOf returns the index of the first bucket whose end exceeds eps, or
// -1 when none does (the example earns no points).
func BucketOf(buckets []Bucket, eps float64) int {
	for k, b := range buckets {
		if eps < b.Hi {
			return k
		}
	}
	return -1
}

// PointsOf returns the points an epsilon earns.
func PointsOf(buckets []Bucket, eps float64) float64 {
	if k := BucketOf(buckets, eps); k >= 0 {
		return buckets[k].Points
	}
	return 0
}
