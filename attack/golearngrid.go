package attack

import (
	"strconv"

	"github.com/sjwhitworth/golearn/base"
)

// Class values of the golearn grids: "1" positive, "0" negative.
const (
	classPos = "1"
	classNeg = "0"
)

// gridSchema is the attributes of golearn grids holding rows of d float
// features (named f0, f1, ...) and a categorical class, shared by a model's
// training and prediction grids so that golearn finds them compatible.
type gridSchema struct {
	feats []*base.FloatAttribute
	class *base.CategoricalAttribute
}

func newGridSchema(d int) *gridSchema {
	s := &gridSchema{feats: make([]*base.FloatAttribute, d), class: base.NewCategoricalAttribute()}
	for j := range s.feats {
		s.feats[j] = base.NewFloatAttribute("f" + strconv.Itoa(j))
	}
	s.class.SetName("class")
	s.class.GetSysValFromString(classNeg)
	s.class.GetSysValFromString(classPos)
	return s
}

// grid builds a golearn DenseInstances of the rows of x (d features; only
// the rows listed in rows and the columns in cols, when not nil) with
// classes y (indexed like x's rows; nil: all negative).
func (s *gridSchema) grid(x []float64, d int, rows, cols []int, y []bool) *base.DenseInstances {
	if cols == nil {
		cols = make([]int, d)
		for j := range cols {
			cols[j] = j
		}
	}
	if rows == nil {
		rows = make([]int, len(x)/d)
		for i := range rows {
			rows[i] = i
		}
	}
	inst := base.NewDenseInstances()
	specs := make([]base.AttributeSpec, len(cols))
	for k, j := range cols {
		specs[k] = inst.AddAttribute(s.feats[j])
	}
	cs := inst.AddAttribute(s.class)
	inst.AddClassAttribute(s.class)
	inst.Extend(len(rows))
	pos, neg := s.class.GetSysValFromString(classPos), s.class.GetSysValFromString(classNeg)
	for i, r := range rows {
		for k, j := range cols {
			inst.Set(specs[k], i, base.PackFloatToBytes(x[r*d+j]))
		}
		if y != nil && y[r] {
			inst.Set(cs, i, pos)
		} else {
			inst.Set(cs, i, neg)
		}
	}
	return inst
}
