package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"unlearnbench/nn"
	"unlearnbench/result"
)

// cancelWriter is a status writer that cancels when a line containing
// at appears.
type cancelWriter struct {
	bytes.Buffer
	at     string
	cancel func()
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	if w.at != "" && strings.Contains(string(p), w.at) {
		w.cancel()
	}
	return w.Buffer.Write(p)
}

// TestInterruptAtEveryStage (issue 21 class 3): a run whose context is
// canceled (what SIGINT and SIGTERM do) while it loads the data, trains
// the original, computes members, scores, attacks or writes the run
// directory returns an *InterruptedError promptly, measured by the work
// done after the cancel (never by the clock), leaves nothing half-written,
// and a rerun finishes with the scores of an uninterrupted run.
func TestInterruptAtEveryStage(t *testing.T) {
	pristineCfg := testConfig(t, "")
	pristine := filepath.Join(filepath.Dir(pristineCfg), "cache")
	o, _, _ := mustExecute(t, pristineCfg, Options{})
	want := scoresOf(t, o.Result)
	forget := o.Result.Methods[0].E

	type state struct {
		ctx    context.Context
		cancel func()
		out    *cancelWriter
		mu     sync.Mutex
		after  int // progress calls after the cancel
		labels []string
	}
	cases := []struct {
		name string
		// cache: "" a fresh one, "populations" the pristine populations
		// and original without scores, "all" the whole pristine cache.
		cache string
		setup func(s *state, opt *Options)
		check func(t *testing.T, s *state, err error, dir string)
	}{
		{"loading the data", "", func(s *state, opt *Options) { s.cancel() }, func(t *testing.T, s *state, err error, dir string) {
			if !strings.Contains(err.Error(), "loading the data") {
				t.Errorf("error %v does not name the stage", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "cache")); err == nil {
				t.Error("a cache was written")
			}
		}},
		{"training the original", "", func(s *state, opt *Options) { s.out.at = "training the original" }, func(t *testing.T, s *state, err error, dir string) {
			var ie *nn.InterruptedError
			if !errors.As(err, &ie) || ie.Epoch != 1 || ie.Step > 1 {
				t.Errorf("error %v: want training stopped at its first step (nn.InterruptedError)", err)
			}
			if ms, _ := filepath.Glob(filepath.Join(dir, "cache", "originals", "*")); len(ms) != 0 {
				t.Errorf("files in originals/ after the interrupt: %v", ms)
			}
		}},
		{"training the original, after an epoch", "", func(s *state, opt *Options) { s.out.at = "original: epoch 1/2" }, func(t *testing.T, s *state, err error, dir string) {
			var ie *nn.InterruptedError
			if !errors.As(err, &ie) || ie.Epoch != 2 || ie.Step > 1 {
				t.Errorf("error %v: want training stopped at the second epoch's first step (nn.InterruptedError)", err)
			}
			ms, _ := filepath.Glob(filepath.Join(dir, "cache", "originals", "*"))
			if len(ms) != 1 || !strings.HasSuffix(ms[0], ".ckpt.npz") {
				t.Errorf("originals/ after the interrupt: %v, want the checkpoint alone", ms)
			}
		}},
		{"computing members", "", func(s *state, opt *Options) {
			opt.Progress = func(Stage) (func(int, int), func()) {
				return func(done, _ int) {
					s.mu.Lock()
					defer s.mu.Unlock()
					if s.ctx.Err() != nil {
						s.after++
					}
					s.cancel()
				}, func() {}
			}
		}, func(t *testing.T, s *state, err error, dir string) {
			// One member done cancels; the other worker's member in flight
			// may finish. No population is complete, none started after.
			ms, _ := filepath.Glob(filepath.Join(dir, "cache", "populations", "*", "member-*.npz"))
			if len(ms) > 2 || s.after > 1 {
				t.Errorf("%d members written, %d finished after the cancel; want at most the 2 workers' first", len(ms), s.after)
			}
		}},
		{"scoring", "populations", func(s *state, opt *Options) {
			opt.Progress = func(st Stage) (func(int, int), func()) {
				if strings.HasPrefix(st.Label, "scoring") {
					s.cancel()
				}
				return func(int, int) {
					s.mu.Lock()
					s.after++
					s.mu.Unlock()
				}, func() {}
			}
		}, func(t *testing.T, s *state, err error, dir string) {
			// Canceled before the first example: at most the workers'
			// examples in flight finish, not the method's forget set.
			if s.after >= forget {
				t.Errorf("%d examples scored after the cancel, of %d", s.after, forget)
			}
		}},
		{"attacking", "populations", func(s *state, opt *Options) {
			opt.Progress = func(st Stage) (func(int, int), func()) {
				attacking := strings.HasPrefix(st.Label, "attacking")
				return func(done, total int) {
					s.mu.Lock()
					defer s.mu.Unlock()
					if attacking {
						if s.ctx.Err() != nil {
							s.after++
						}
						s.cancel()
					}
				}, func() {}
			}
		}, func(t *testing.T, s *state, err error, dir string) {
			// One attack done cancels; none runs after it.
			if s.after > 0 {
				t.Errorf("%d attacks ran after the cancel", s.after)
			}
		}},
		{"writing the run directory", "all", func(s *state, opt *Options) {
			opt.Reports = func(r *result.Result, dir string) error {
				s.cancel()
				return os.WriteFile(filepath.Join(dir, "report.md"), []byte("partial"), 0o644)
			}
		}, func(t *testing.T, s *state, err error, dir string) {
			if ents, _ := os.ReadDir(filepath.Join(dir, "runs")); len(ents) != 0 {
				t.Errorf("runs/ holds %d entries after the interrupt, want none", len(ents))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := testConfig(t, "")
			dir := filepath.Dir(file)
			switch tc.cache {
			case "populations":
				copyTree(t, pristine, filepath.Join(dir, "cache"))
				os.RemoveAll(filepath.Join(dir, "cache", "scores"))
			case "all":
				copyTree(t, pristine, filepath.Join(dir, "cache"))
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := &state{ctx: ctx, cancel: cancel}
			s.out = &cancelWriter{cancel: cancel}
			opt := Options{Out: s.out}
			tc.setup(s, &opt)
			var warn bytes.Buffer
			opt.Warn = func(w string) { fmt.Fprintln(&warn, w) }
			cfg, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Execute(ctx, cfg, opt)
			var ie *InterruptedError
			if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want an *InterruptedError of the cancel\n%s%s", err, s.out.String(), warn.String())
			}
			tc.check(t, s, err, dir)
			noTemp(t, dir)
			o, out, w := mustExecute(t, file, Options{})
			if got := scoresOf(t, o.Result); got != want {
				t.Fatalf("the rerun's scores differ from an uninterrupted run's:\n%s\n%s", out, w)
			}
			// The original, continued from its checkpoint or trained again,
			// is the uninterrupted run's, byte for byte, and no checkpoint
			// is left beside it.
			ms, _ := filepath.Glob(filepath.Join(dir, "cache", "originals", "*"))
			pm, _ := filepath.Glob(filepath.Join(pristine, "originals", "*.onnx"))
			if len(ms) != 1 || len(pm) != 1 || filepath.Base(ms[0]) != filepath.Base(pm[0]) || readFile(t, ms[0]) != readFile(t, pm[0]) {
				t.Errorf("originals/ after the rerun: %v; want the uninterrupted run's %v, same bytes", ms, pm)
			}
			if strings.HasSuffix(tc.name, "after an epoch") && !strings.Contains(out, "original: continuing from its checkpoint after epoch 1 of 2") {
				t.Errorf("the rerun did not continue from the checkpoint:\n%s", out)
			}
		})
	}
}
