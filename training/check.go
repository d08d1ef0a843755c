package training

import (
	"fmt"
	"math"
	"slices"

	"unlearnbench/nn"
)

// FieldError is a recipe setting out of its range, named by its path in
// the YAML that holds a recipe ("optimizer.lr"), so that each reader names
// it as its user wrote it: a run config's recipe.optimizer.lr, unlearn's
// --recipe FILE's optimizer.lr.
type FieldError struct {
	Field string
	Value string
	Want  string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s is %s; want %s", e.Field, e.Value, e.Want)
}

// CheckRecipe refuses, before any training, a recipe value that training
// would refuse (or silently misuse) only once it starts: the optimiser's
// "learning rate -1" then names neither the file nor the field. NaN and the
// infinities are refused everywhere.
func CheckRecipe(c nn.TrainConfig) error {
	bad := func(field string, v any, want string) error {
		return &FieldError{Field: field, Value: fmt.Sprint(v), Want: want}
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.Epochs < 1:
		return bad("epochs", c.Epochs, "at least 1")
	case c.BatchSize < 1:
		return bad("batch_size", c.BatchSize, "at least 1")
	case !slices.Contains([]string{"sgd", "adam", "adamw"}, c.Optimizer.Name):
		// nn's OptimizerConfig.Validate takes the same names (the
		// optimisers its in-graph update offers); this names the field.
		return bad("optimizer.name", fmt.Sprintf("%q", c.Optimizer.Name), "sgd, adam or adamw")
	case !slices.Contains([]string{"", "constant", "step", "cosine", "cosine_epochs"}, c.Schedule.Name):
		// nn's Schedule.Validate takes the same names; this names the field.
		return bad("schedule.name", fmt.Sprintf("%q", c.Schedule.Name), "constant, step, cosine or cosine_epochs")
	case c.Schedule.Name == "step" && c.Schedule.StepEpochs < 1:
		return bad("schedule.step_epochs", c.Schedule.StepEpochs, "at least 1 with the step schedule")
	case c.Schedule.WarmupSteps < 0:
		return bad("schedule.warmup_steps", c.Schedule.WarmupSteps, "0 or more")
	case c.Augment.Pad < 0:
		return bad("augment_pad", c.Augment.Pad, "0 or more")
	}
	for _, f := range []struct {
		field  string
		v      float64
		lo, hi float64 // hi exclusive; lo inclusive unless loOpen
		loOpen bool
	}{
		{"optimizer.lr", c.Optimizer.LR, 0, math.Inf(1), true},
		{"optimizer.momentum", c.Optimizer.Momentum, 0, 1, false},
		{"optimizer.weight_decay", c.Optimizer.WeightDecay, 0, math.Inf(1), false},
		{"optimizer.beta1", c.Optimizer.Beta1, 0, 1, false},
		{"optimizer.beta2", c.Optimizer.Beta2, 0, 1, false},
		{"optimizer.eps", c.Optimizer.Eps, 0, math.Inf(1), false},
		{"schedule.gamma", c.Schedule.Gamma, 0, math.Inf(1), true},
		{"loss.label_smoothing", c.Loss.LabelSmoothing, 0, 1, false},
		{"loss.temperature", c.Loss.Temperature, 0, math.Inf(1), false},
	} {
		if finite(f.v) && (f.v > f.lo || (!f.loOpen && f.v == f.lo)) && f.v < f.hi {
			continue
		}
		want := ">= 0"
		switch {
		case f.loOpen:
			want = "> 0"
		case !math.IsInf(f.hi, 1):
			want = "in [0, 1)"
		}
		return bad(f.field, f.v, "a finite number "+want)
	}
	for i, w := range c.Loss.ClassWeights {
		if v := float64(w); !finite(v) || v < 0 {
			return bad(fmt.Sprintf("loss.class_weights[%d]", i), v, "a finite number >= 0")
		}
	}
	if c.Optimizer.Nesterov && c.Optimizer.Momentum == 0 {
		return bad("optimizer.nesterov", true, "momentum > 0 with it")
	}
	if c.Optimizer.Nesterov && c.Optimizer.Name != "sgd" {
		return bad("optimizer.nesterov", true, "false with "+c.Optimizer.Name+" (Nesterov applies to sgd's momentum only)")
	}
	return nil
}
