package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"unlearnbench/datasets"
	"unlearnbench/internal/atomicfile"
	"unlearnbench/internal/usererr"
	"unlearnbench/nn"
	"unlearnbench/nn/ort"
	"unlearnbench/population"
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
func original(cfg *Config, s *sets, rt *ort.Runtime, dryRun bool, out func(string, ...any)) (*nn.Model, string, error) {
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
	path := cfg.cache().Original(originalKey(cfg, s))
	if _, err := os.Stat(path); err == nil {
		m, err := loadOriginal(path)
		return m, "cached " + path, err
	}
	if dryRun {
		return nil, "to train: " + path, nil
	}
	src := s.src.Train
	m, err := nn.New(cfg.Model, []int64{int64(src.C), int64(src.H), int64(src.W)}, src.Classes, cfg.Recipe.Seed)
	if err != nil {
		return nil, "", err
	}
	// At the raw pixel scale the model sees the pixels as they are
	// (surf.py's images go into resnet18 unnormalised).
	if cfg.Data.PixelScale != "raw" {
		st := datasets.ChannelStats(src, s.trainIdx)
		if err := m.PrependNormalization(st.Mean, st.Std); err != nil {
			return nil, "", err
		}
	}
	out("training the original %s on %d examples for %d epochs\n", cfg.Model, s.train.Len(), cfg.Recipe.Epochs)
	start := time.Now()
	var eval *nn.Data
	if s.recipe.BestValidation != nil {
		eval = s.validation
	}
	batches, err := nn.DataBatches(m, s.train, s.recipe)
	if err == nil {
		_, err = nn.Train(rt, m, batches, eval, s.recipe, nn.Options{})
	}
	if err != nil {
		return nil, "", fmt.Errorf("training the original: %w", err)
	}
	// Saved, then linked into place: when shards race, the first one's
	// file wins and every process reads the same bytes back.
	tmp := atomicfile.TempName(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, "", err
	}
	if err := m.Save(tmp); err != nil {
		return nil, "", err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, "", fmt.Errorf("caching the original: %w", err)
	}
	m, err = loadOriginal(path)
	return m, fmt.Sprintf("trained in %.1f s, cached %s", time.Since(start).Seconds(), path), err
}
