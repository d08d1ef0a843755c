// Command exec-finetune is an unlearning method for unlearnbench's exec
// method, written the way a program in any other language would be: it
// reads the original model (ONNX) and the retain set (.npy) from the
// UNLEARNBENCH_* environment variables, fine-tunes the model on the retain
// set with SGD, and writes the result as ONNX to UNLEARNBENCH_OUT. Batch
// order and dropout come from UNLEARNBENCH_SEED, so a member is
// reproducible. The tests of package unlearners build and run it.
//
//	go build -o exec-finetune ./examples/exec-finetune
//	# method exec, command: ./exec-finetune -epochs 1 -lr 0.05
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"unlearnbench/internal/arrays"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
)

func main() {
	epochs := flag.Int("epochs", 1, "epochs of fine-tuning on the retain set")
	lr := flag.Float64("lr", 0.05, "SGD learning rate (momentum 0.9)")
	batch := flag.Int("batch", 0, "batch size; 0: UNLEARNBENCH_BATCH_SIZE, or 64 when that is 0")
	defThreads, _ := strconv.Atoi(os.Getenv("UNLEARNBENCH_THREADS"))
	threads := flag.Int("threads", max(1, defThreads), "ONNX Runtime threads; default UNLEARNBENCH_THREADS, or 1")
	flag.Parse()
	if err := run(*epochs, *lr, *batch, *threads); err != nil {
		fmt.Fprintln(os.Stderr, "exec-finetune:", err)
		os.Exit(1)
	}
}

func env(name string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s is not set (run me through unlearnbench's exec method)", name)
	}
	return v, nil
}

func run(epochs int, lr float64, batch, threads int) error {
	var paths [4]string
	for i, name := range []string{"UNLEARNBENCH_MODEL", "UNLEARNBENCH_RETAIN_X", "UNLEARNBENCH_RETAIN_Y", "UNLEARNBENCH_OUT"} {
		v, err := env(name)
		if err != nil {
			return err
		}
		paths[i] = v
	}
	s, err := env("UNLEARNBENCH_SEED")
	if err != nil {
		return err
	}
	seed, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("UNLEARNBENCH_SEED: %w", err)
	}
	if batch == 0 {
		batch, _ = strconv.Atoi(os.Getenv("UNLEARNBENCH_BATCH_SIZE"))
		if batch < 1 {
			batch = 64
		}
	}
	dev, err := ort.ParseDevice(os.Getenv("UNLEARNBENCH_DEVICE"))
	if err != nil {
		return err
	}
	rt, err := ort.Init(ort.Options{Device: dev, IntraOpThreads: threads, InterOpThreads: 1})
	if err != nil {
		return err
	}
	defer rt.Close()

	m, err := nn.Import(paths[0])
	if err != nil {
		return err
	}
	xa, err := arrays.ReadFile(paths[1])
	if err != nil {
		return err
	}
	ya, err := arrays.ReadFile(paths[2])
	if err != nil {
		return err
	}
	if len(xa.Shape) < 2 || len(ya.Shape) != 1 || xa.Shape[0] != ya.Shape[0] {
		return fmt.Errorf("retain set: images %s and labels %s do not match", xa.ShapeString(), ya.ShapeString())
	}
	x, err := xa.Float32s()
	if err != nil {
		return err
	}
	y, err := ya.Ints()
	if err != nil {
		return err
	}
	d := &nn.Data{X: x, Y: y}
	for _, v := range xa.Shape[1:] {
		d.Shape = append(d.Shape, int64(v))
	}
	cfg := nn.TrainConfig{Epochs: epochs, BatchSize: batch, Seed: seed,
		Optimizer: nn.OptimizerConfig{Name: "sgd", LR: lr, Momentum: 0.9},
		Schedule:  nn.Schedule{Name: "constant"}}
	src, err := nn.DataBatches(m, d, cfg)
	if err != nil {
		return err
	}
	hist, err := nn.Train(rt, m, src, nil, cfg, nn.Options{})
	if err != nil {
		return err
	}
	last := hist[len(hist)-1]
	fmt.Printf("fine-tuned %d epochs on %d retain examples: loss %.4f, accuracy %.4f\n", len(hist), d.Len(), last.TrainLoss, last.TrainAcc)
	return m.Save(paths[3])
}
