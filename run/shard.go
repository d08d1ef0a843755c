package run

import (
	"strconv"
	"strings"

	"unlearnbench/internal/usererr"
)

// ShardSpec is a slice of every population: member i belongs to shard
// i mod M. The zero value is the whole population.
type ShardSpec struct{ K, M int }

// Has reports whether member i belongs to the shard.
func (s ShardSpec) Has(i int) bool { return s.M == 0 || i%s.M == s.K }

// ParseShard reads --shard: "" (no shard), K/M (K from 0), k8s/M (K from a
// Kubernetes Indexed Job's $JOB_COMPLETION_INDEX) or slurm (K and M from a
// Slurm job array). env looks up environment variables (os.Getenv).
func ParseShard(s string, env func(string) string) (ShardSpec, error) {
	if s == "" {
		return ShardSpec{}, nil
	}
	envInt := func(name string) (int, error) {
		v := env(name)
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, usererr.Errorf("--shard %s: $%s is %q; want an integer", s, name, v)
		}
		return n, nil
	}
	var k, m int
	var err error
	switch {
	case s == "slurm":
		if k, err = envInt("SLURM_ARRAY_TASK_ID"); err != nil {
			return ShardSpec{}, err
		}
		lo := 0
		if env("SLURM_ARRAY_TASK_MIN") != "" {
			if lo, err = envInt("SLURM_ARRAY_TASK_MIN"); err != nil {
				return ShardSpec{}, err
			}
		}
		k -= lo
		if m, err = envInt("SLURM_ARRAY_TASK_COUNT"); err != nil {
			return ShardSpec{}, err
		}
	case strings.HasPrefix(s, "k8s/"):
		if m, err = strconv.Atoi(s[4:]); err != nil {
			return ShardSpec{}, usererr.Errorf("--shard %s: want k8s/M with M the Job's completions", s)
		}
		if k, err = envInt("JOB_COMPLETION_INDEX"); err != nil {
			return ShardSpec{}, err
		}
	default:
		a, b, ok := strings.Cut(s, "/")
		k, err1 := strconv.Atoi(a)
		m2, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil {
			return ShardSpec{}, usererr.Errorf("--shard %q: want K/M (e.g. 0/4), k8s/M or slurm", s)
		}
		return checkShard(s, k, m2)
	}
	return checkShard(s, k, m)
}

func checkShard(s string, k, m int) (ShardSpec, error) {
	if m < 1 || k < 0 || k >= m {
		return ShardSpec{}, usererr.Errorf("--shard %s: shard index %d is outside 0..%d (of %d shards)", s, k, m-1, m)
	}
	return ShardSpec{K: k, M: m}, nil
}
