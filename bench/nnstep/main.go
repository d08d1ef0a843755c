// Command nnstep times unlearnbench's training step or inference on one zoo
// model, for bench/torch_compare.py, which runs it beside PyTorch:
//
//	nnstep -arch cnn -shape 1,28,28 -mode train -threads 1
//
// It builds the model, the session and a random batch, runs two warm-up
// steps (ONNX Runtime plans and allocates its memory over a session's first
// two runs; for inference with -weights auto, as many as make the
// evaluator compile its constant-weight session, plus one), prints
// "ready", then for every line "N" read from stdin runs N steps and prints
// one JSON line {"steps": N, "wall_s": ..., "cpu_s": ..., "max_rss_mb":
// ...}: wall time and the process's CPU time (all threads, user and
// system) of those steps only, and the process's peak resident memory so
// far (model, session, batch and the steps' working memory). A long-lived
// process lets the script interleave short
// rounds of ours and PyTorch's, so that a change in the machine's load
// falls on both.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"unlearnbench/nn"
	"unlearnbench/nn/ort"
)

// deviceResident runs the trainer's device-resident path (weights, moments
// and gradients in ONNX Runtime memory, as on CUDA) on the CPU, to measure
// what it costs there.
var deviceResident = flag.Bool("device-resident", false, "train: keep weights, optimiser state and gradients in ONNX Runtime memory (the path CUDA always takes)")

func main() {
	arch := flag.String("arch", "cnn", "zoo architecture: "+strings.Join(nn.Archs, ", "))
	shapeS := flag.String("shape", "1,28,28", "input shape C,H,W")
	mode := flag.String("mode", "train", "train (forward, backward, SGD with momentum 0.9) or infer (logits)")
	batch := flag.Int("batch", 128, "examples per step")
	threads := flag.Int("threads", 1, "ONNX Runtime intra-op threads")
	seed := flag.Uint64("seed", 1, "seed of the weights and the batch")
	weights := flag.String("weights", "auto", "infer: the evaluator's weights: auto (its own rule: constants once the examples at one generation of the weights reach Evaluator.RecompileAfter, which the warm-up passes), const or input")
	profile := flag.String("profile", "", "write ONNX Runtime's per-node profile (JSON) of every session to files starting with this prefix")
	flag.Parse()
	if err := run(*arch, *shapeS, *mode, *batch, *threads, *seed, *weights, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "nnstep:", err)
		os.Exit(2)
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// maxRSS is the process's peak resident set in MB (Linux reports KiB).
func maxRSS() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) * 1024 / 1e6
}

func run(arch, shapeS, mode string, batch, threads int, seed uint64, weights, profile string) error {
	var shape []int64
	for _, f := range strings.Split(shapeS, ",") {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil || v < 1 {
			return fmt.Errorf("-shape %q: want C,H,W of positive integers", shapeS)
		}
		shape = append(shape, v)
	}
	if batch < 1 || threads < 1 {
		return fmt.Errorf("-batch %d, -threads %d: want >= 1", batch, threads)
	}
	m, err := nn.New(arch, shape, 10, seed)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	d := &nn.Data{Shape: shape, X: make([]float32, batch*d3(shape)), Y: make([]int64, batch)}
	for i := range d.X {
		d.X[i] = float32(rng.NormFloat64())
	}
	for i := range d.Y {
		d.Y[i] = rng.Int64N(10)
	}
	rt, err := ort.Init(ort.Options{IntraOpThreads: threads, InterOpThreads: 1, ProfilePrefix: profile, DeviceResident: *deviceResident})
	if err != nil {
		return err
	}
	defer rt.Close()
	var step func() error
	warm := 2
	switch mode {
	case "train":
		// PyTorch's side: SGD(lr=0.01, momentum=0.9), no weight decay.
		tr, err := nn.NewTrainer(rt, m, nn.OptimizerConfig{Name: "sgd", LR: 0.01, Momentum: 0.9}, nn.LossConfig{}, seed)
		if err != nil {
			return err
		}
		defer tr.Close()
		idx := make([]int, batch)
		for i := range idx {
			idx[i] = i
		}
		step = func() error {
			if _, err := tr.Compute(d, idx); err != nil {
				return err
			}
			return tr.Apply(0.01)
		}
	case "infer":
		ev, err := nn.NewEvaluator(rt, m, batch)
		if err != nil {
			return err
		}
		defer ev.Close()
		switch weights {
		case "auto":
			warm = max(warm, (ev.RecompileAfter+batch-1)/batch+1)
		case "const":
			ev.RecompileAfter = 1
		case "input":
			ev.RecompileAfter = 0
		default:
			return fmt.Errorf("-weights %q: want auto, const or input", weights)
		}
		step = func() error {
			_, err := ev.Logits(d)
			return err
		}
	default:
		return fmt.Errorf("-mode %q: want train or infer", mode)
	}
	for range warm {
		if err := step(); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for in.Scan() {
		n, err := strconv.Atoi(strings.TrimSpace(in.Text()))
		if err != nil || n < 1 {
			return fmt.Errorf("stdin %q: want a number of steps", in.Text())
		}
		c0, t0 := cpuSeconds(), time.Now()
		for range n {
			if err := step(); err != nil {
				return err
			}
		}
		wall, cpu := time.Since(t0).Seconds(), cpuSeconds()-c0
		if err := enc.Encode(map[string]any{"steps": n, "wall_s": wall, "cpu_s": cpu, "max_rss_mb": maxRSS()}); err != nil {
			return err
		}
	}
	return in.Err()
}

func d3(shape []int64) int {
	n := 1
	for _, v := range shape {
		n *= int(v)
	}
	return n
}
