package run

import (
	"context"
	"encoding/json"
	"io"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"unlearnbench/internal/atomicfile"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
	"unlearnbench/population"
	"unlearnbench/training"
	"unlearnbench/unlearners"
)

// originalKey identifies a trained original by everything its weights
// depend on. Its bytes are those of every earlier version (Key.Sum): a
// cache of trained originals stays valid.
func originalKey(cfg *Config, s *sets) string {
	recipe, _ := json.Marshal(cfg.Recipe)
	var k population.Key
	k.Add("", "unlearnbench original")
	k.Add("layout", population.Layout)
	k.Add("arch", cfg.Model)
	k.Add("recipe", string(recipe))
	k.Add("train", s.train.Digest())
	k.Add("device", cfg.Runtime.Device)
	k.Add("threads", unlearners.MemberThreads)
	if cfg.Recipe.BestValidation != nil {
		// The kept epoch depends on the validation set too (added only
		// then, so that other originals keep their keys).
		k.Add("validation", s.validation.Digest())
	}
	if a := nn.ArchArithmetic(cfg.Model); a != "" {
		k.Add("arithmetic", a) // likewise only where it is not empty
	}
	return k.Sum("\x00", true)
}

// loadOriginal imports an original model file (nn.Import keeps a zoo
// model's input normalisation constants as buffers, so methods never train
// or re-draw them).
func loadOriginal(path string) (*nn.Model, error) {
	m, err := nn.Import(path)
	if err != nil {
		return nil, usererr.Wrap(fmt.Errorf("original: %w", err))
	}
	return m, nil
}

// original returns the original model: imported, from the cache, or
// trained and cached (nil with dryRun when it would be trained), and how
// it was had, for the status line.
func original(ctx context.Context, cfg *Config, s *sets, rt *ort.Runtime, dryRun bool, out func(string, ...any), warn func(string)) (*nn.Model, string, error) {
	if cfg.Original != "" {
		m, err := loadOriginal(cfg.Original)
		if err != nil {
			return nil, "", err
		}
		// A zoo model normalises its own input: normalize: would apply
		// twice and its logits be silently wrong (train and unlearn refuse
		// --normalize for it alike).
		if cfg.Normalize != "" && cfg.Normalize != "none" && m.Graph.Inits[m.Input+".norm_mean"] != nil {
			return nil, "", usererr.Errorf("config %s: normalize: %s normalises its own input (a model of unlearnbench's zoo takes the data as read); drop normalize:", cfg.File, cfg.Original)
		}
		if m.Classes != s.src.Train.Classes {
			return nil, "", usererr.Errorf("original %s has %d classes, the data %d", cfg.Original, m.Classes, s.src.Train.Classes)
		}
		if err := s.train.Check(m); err != nil {
			return nil, "", usererr.Wrap(fmt.Errorf("original %s: %w", cfg.Original, err))
		}
		return m, "imported " + cfg.Original, nil
	}
	key := originalKey(cfg, s)
	path := cfg.cache().Original(key)
	if _, err := os.Stat(path); err == nil {
		if err := checkOriginalKey(path, key); err == nil {
			m, err := loadOriginal(path)
			return m, "cached " + path, err
		} else if dryRun {
			return nil, fmt.Sprintf("to train again: %v", err), nil
		} else {
			warn(fmt.Sprintf("%v; training it again", err))
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, "", usererr.Wrap(fmt.Errorf("removing %s: %w", path, err))
			}
		}
	}
	if dryRun {
		return nil, "to train: " + path, nil
	}
	src := s.src.Train
	// The zoo model normalises its own input as train's does; at the raw
	// pixel scale it sees the pixels as they are (surf.py's images go into
	// resnet18 unnormalised).
	var m *nn.Model
	var err error
	if cfg.Data.PixelScale == "raw" {
		m, err = nn.New(cfg.Model, []int64{int64(src.C), int64(src.H), int64(src.W)}, src.Classes, cfg.Recipe.Seed)
	} else {
		m, err = training.Zoo(cfg.Model, src, s.trainIdx, cfg.Recipe.Seed)
	}
	if err != nil {
		return nil, "", err
	}
	out("training the original %s on %d examples for %d epochs\n", cfg.Model, s.train.Len(), cfg.Recipe.Epochs)
	start := time.Now()
	var eval *nn.Data
	if s.recipe.BestValidation != nil {
		eval = s.validation
	}
	batches, err := nn.DataBatches(m, s.train, s.recipe)
	if err == nil {
		// A checkpoint after every epoch, bound to the original's key:
		// stopped by a signal (or killed), the rerun continues from the
		// last completed epoch, as `train --resume` does, and ends with
		// the same weights as an uninterrupted run; a ResNet-18 original
		// is hours of work.
		ckpt := cfg.cache().OriginalCheckpoint(key)
		opts := nn.Options{Context: ctx,
			Checkpoint: func(st *nn.TrainState) error { return nn.SaveCheckpoint(ckpt, m, st, key) },
			Progress: func(r nn.EpochResult) {
				out("original: epoch %d/%d: train loss %.4f, accuracy %.2f%%\n", r.Epoch, s.recipe.Epochs, r.TrainLoss, 100*r.TrainAcc)
			}}
		if opts.Resume, err = resumeOriginal(ckpt, key, m, batches.Steps, s.recipe.Epochs, warn); err == nil {
			if opts.Resume != nil {
				out("original: continuing from its checkpoint after epoch %d of %d\n", opts.Resume.Epochs, s.recipe.Epochs)
			}
			_, err = nn.Train(rt, m, batches, eval, s.recipe, opts)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("training the original: %w", err)
	}
	// Written, then linked into place: when shards race, the first one's
	// file wins and every process reads the same bytes back.
	b, err := originalBytes(m, key)
	if err != nil {
		return nil, "", err
	}
	if _, err := atomicfile.Create(path, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return nil, "", fmt.Errorf("caching the original: %w", err)
	}
	if err := os.Remove(cfg.cache().OriginalCheckpoint(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		warn(fmt.Sprintf("removing the original's checkpoint: %v", err))
	}
	m, err = loadOriginal(path)
	return m, fmt.Sprintf("trained in %.1f s, cached %s", time.Since(start).Seconds(), path), err
}

// resumeOriginal reads the original's checkpoint at path, when there is
// one, into m and returns the state to continue from. A checkpoint of
// another key, a damaged one or one that does not fit the recipe's epochs
// and steps is removed with a warning and training starts over (the cache
// rule: an entry that does not prove its key is not used).
func resumeOriginal(path, key string, m *nn.Model, steps, epochs int, warn func(string)) (*nn.TrainState, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	st, err := func() (*nn.TrainState, error) {
		c, err := nn.ReadCheckpoint(path)
		if err != nil {
			return nil, err
		}
		var was string
		if err := json.Unmarshal(c.Run, &was); err != nil || was != key {
			return nil, fmt.Errorf("checkpoint %s is of another original (key %.12s, want %.12s)", path, was, key)
		}
		st, err := c.Restore(m)
		if err != nil {
			return nil, err
		}
		if st.Epochs < 1 || st.Epochs > epochs || st.Step != st.Epochs*steps || len(st.History) != st.Epochs {
			return nil, fmt.Errorf("checkpoint %s records step %d after %d epochs, which does not fit %d epochs of %d steps", path, st.Step, st.Epochs, epochs, steps)
		}
		return st, nil
	}()
	if err == nil {
		return st, nil
	}
	warn(fmt.Sprintf("%v; training the original from the start", err))
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, usererr.Wrap(fmt.Errorf("removing %s: %w", path, err))
	}
	return nil, nil
}

// originalKeyProp is the ONNX metadata entry in which a cached original
// records the key it was trained for (population.Cache's rule: every
// entry carries its key), so that another ONNX file put in its place is
// trained again rather than used.
const originalKeyProp = "unlearnbench.original_key"

// originalBytes is m as an ONNX file recording key. The model's digest,
// which keys its populations, is of its graph and weights, not of this
// metadata.
func originalBytes(m *nn.Model, key string) ([]byte, error) {
	g := m.Graph.Clone()
	g.Outputs = []string{m.Output}
	pm := g.Proto()
	pm.MetadataProps = append(pm.MetadataProps, &onnx.StringStringEntryProto{Key: originalKeyProp, Value: key})
	b, err := proto.Marshal(pm)
	if err != nil {
		return nil, fmt.Errorf("encoding the original: %w", err)
	}
	return b, nil
}

// checkOriginalKey checks that the cached original at path records key;
// otherwise it is a *population.EntryError naming the file.
func checkOriginalKey(path, key string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &population.EntryError{Path: path, Err: err}
	}
	var pm onnx.ModelProto
	if err := proto.Unmarshal(b, &pm); err != nil {
		return &population.EntryError{Path: path, Err: fmt.Errorf("not an ONNX file: %w", err)}
	}
	for _, p := range pm.MetadataProps {
		if p.Key == originalKeyProp {
			if p.Value != key {
				return &population.EntryError{Path: path, Err: fmt.Errorf("was trained for key %.12s, not %.12s: the original of another config", p.Value, key)}
			}
			return nil
		}
	}
	return &population.EntryError{Path: path, Err: fmt.Errorf("records no key (%s): another ONNX file, or one an earlier unlearnbench cached", originalKeyProp)}
}
