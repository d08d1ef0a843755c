package result

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// The forget-set digests a DataSplit.ForgetDigest holds, in one place: the
// run and score caches and compare's refusal of two different forget sets
// all key on these exact bytes, so neither formula may change.

// IDsDigest is a DataSplit.ForgetDigest computed from the forget examples'
// dataset indices: "ids-sha256:" and the SHA-256 of the indices as
// little-endian 64-bit values, in forget-set order. It tells any two
// forget sets apart, so it is the digest to use where the indices are known.
func IDsDigest(ids []int) string {
	return "ids-sha256:" + intsDigest(ids)
}

// LabelsDigest is a DataSplit.ForgetDigest computed from the forget set's
// labels: "labels-sha256:" and the SHA-256 of the labels as little-endian
// int64 values, in example order. It tells two forget sets apart only when
// their labels differ; commands that are given populations but not the
// examples' indices use it.
func LabelsDigest(labels []int) string {
	return "labels-sha256:" + intsDigest(labels)
}

// intsDigest is the lower-case hex SHA-256 of v as little-endian int64s.
func intsDigest(v []int) string {
	h := sha256.New()
	var b [8]byte
	for _, x := range v {
		binary.LittleEndian.PutUint64(b[:], uint64(int64(x)))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}
