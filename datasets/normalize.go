package datasets

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"unlearnbench/internal/usererr"
)

// ParseNormalization reads a normalisation as the commands and run's
// config spell it: "" or "none" (nil), or "M1,M2,.../S1,S2,..." (one mean
// and one standard deviation per channel, of values in [0, 1]). Every
// value must be finite and every deviation positive; channels > 0 also
// checks the count (commands parse the flag before reading the data, then
// again with the data's channels). Errors say what is wrong with s; the
// caller names the flag or field.
func ParseNormalization(s string, channels int) (*Normalization, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	ms, ss, ok := strings.Cut(s, "/")
	if !ok {
		return nil, fmt.Errorf("want none or MEAN,.../STD,...")
	}
	var n Normalization
	for i, part := range []string{ms, ss} {
		for _, f := range strings.Split(part, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", f)
			}
			finite := !math.IsNaN(v) && !math.IsInf(v, 0)
			if i == 0 {
				if !finite {
					return nil, fmt.Errorf("mean %v is not finite", v)
				}
				n.Mean = append(n.Mean, v)
			} else {
				if !finite || v <= 0 {
					return nil, fmt.Errorf("deviation %v; want a finite number > 0", v)
				}
				n.Std = append(n.Std, v)
			}
		}
	}
	if channels > 0 && (len(n.Mean) != channels || len(n.Std) != channels) {
		return nil, fmt.Errorf("%d means and %d deviations for %d channels", len(n.Mean), len(n.Std), channels)
	}
	return &n, nil
}

// Gather copies the examples idx of d, normalised by norm (nil: as read),
// into one slice of values (example-major, C x H x W each) and one of
// labels: what a model's input tensor and targets are made of.
func Gather(d *Dataset, idx []int, norm *Normalization) ([]float32, []int64, error) {
	x, y := make([]float32, 0, len(idx)*d.Size()), make([]int64, 0, len(idx))
	if len(idx) == 0 {
		return x, y, nil
	}
	b, err := NewBatches(d, idx, BatchOptions{Size: min(len(idx), 1024), Norm: norm})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	for batch := range b.Epoch(0) {
		x = append(x, batch.X...)
		y = append(y, batch.Y...)
	}
	return x, y, nil
}

// GatherRaw is Gather at the pixels' own scale: every byte as the float
// 0 to 255, not divided by 255 and not normalised, as the NeurIPS 2023
// competition's surf.py feeds its images (torchvision's read_image, then
// .to(torch.float32)). Only data of 8-bit pixels has that scale.
func GatherRaw(d *Dataset, idx []int) ([]float32, []int64, error) {
	if d.Pixels == nil {
		return nil, nil, usererr.Errorf("%s: the raw pixel scale (0-255) needs 8-bit image data; this data set holds float values", d.Name)
	}
	s := d.Size()
	x, y := make([]float32, len(idx)*s), make([]int64, len(idx))
	for j, i := range idx {
		if i < 0 || i >= d.N {
			return nil, nil, fmt.Errorf("%s: example %d is outside its %d examples", d.Name, i, d.N)
		}
		for k, v := range d.Pixels[i*s : (i+1)*s] {
			x[j*s+k] = float32(v)
		}
		y[j] = d.Labels[i]
	}
	return x, y, nil
}
