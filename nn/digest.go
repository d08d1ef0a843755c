package nn

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
)

// Digest identifies the model's function: a SHA-256 over its serialised
// inference graph (operators, attributes, weights and buffers), so two
// models with the same digest compute the same logits. Caches of things
// derived from a model (its Fisher diagonal, its populations) key on it.
func (m *Model) Digest() (string, error) {
	m.hostRead()
	g := m.Graph.Clone()
	g.Outputs = []string{m.Output}
	b, err := g.Marshal()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Digest identifies the data: a SHA-256 over its shape, labels and
// example values, in order.
func (d *Data) Digest() string {
	h := sha256.New()
	var buf [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	put(uint64(len(d.Shape)))
	for _, s := range d.Shape {
		put(uint64(s))
	}
	put(uint64(len(d.Y)))
	for _, y := range d.Y {
		put(uint64(y))
	}
	xb := make([]byte, 4*4096)
	for s := 0; s < len(d.X); s += 4096 {
		chunk := d.X[s:min(len(d.X), s+4096)]
		for i, v := range chunk {
			binary.LittleEndian.PutUint32(xb[4*i:], math.Float32bits(v))
		}
		h.Write(xb[:4*len(chunk)])
	}
	return hex.EncodeToString(h.Sum(nil))
}
