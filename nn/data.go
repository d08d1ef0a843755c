package nn

import (
	"fmt"

	"unlearnbench/internal/usererr"
)

// Data is a labelled set of examples in memory: X holds N examples of shape
// Shape ([C, H, W]) one after another, Y their class labels.
type Data struct {
	X     []float32
	Y     []int64
	Shape []int64
}

// Len is the number of examples.
func (d *Data) Len() int { return len(d.Y) }

// Size is the number of floats in one example.
func (d *Data) Size() int { return int(numel(d.Shape)) }

// Check verifies that the data fits model m: shape, sizes and label range.
func (d *Data) Check(m *Model) error {
	if len(d.Shape) != len(m.Shape) {
		return usererr.Errorf("data examples have shape %v, model %q wants %v", d.Shape, m.Graph.Name, m.Shape)
	}
	for i := range d.Shape {
		if m.Shape[i] >= 0 && d.Shape[i] != m.Shape[i] {
			if i == 0 {
				return usererr.Errorf("data has %d channels, model %q wants %d (shape %v vs %v)", d.Shape[0], m.Graph.Name, m.Shape[0], d.Shape, m.Shape)
			}
			return usererr.Errorf("data examples have shape %v, model %q wants %v", d.Shape, m.Graph.Name, m.Shape)
		}
	}
	if len(d.X) != d.Len()*d.Size() {
		return fmt.Errorf("data: %d floats for %d examples of shape %v", len(d.X), d.Len(), d.Shape)
	}
	for i, y := range d.Y {
		if y < 0 || y >= int64(m.Classes) {
			return usererr.Errorf("data: label %d of example %d is outside the model's %d classes", y, i, m.Classes)
		}
	}
	return nil
}

// gather copies examples idx into x and y.
func (d *Data) gather(idx []int, x []float32, y []int64) {
	s := d.Size()
	for j, i := range idx {
		copy(x[j*s:(j+1)*s], d.X[i*s:(i+1)*s])
		if y != nil {
			y[j] = d.Y[i]
		}
	}
}

// Subset returns the examples idx (copied).
func (d *Data) Subset(idx []int) *Data {
	s := &Data{X: make([]float32, len(idx)*d.Size()), Y: make([]int64, len(idx)), Shape: d.Shape}
	d.gather(idx, s.X, s.Y)
	return s
}
