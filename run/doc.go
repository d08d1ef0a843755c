// Package run is unlearnbench's benchmark pipeline: one YAML config (Config,
// with every default in Defaults and the embedded DefaultYAML that make demo
// runs) in, one scored result out.
//
// Load and Parse read a config with its --set overrides; Resolve checks the
// whole config (the attack settings with attack's own check, the recipe)
// before any work, and Execute checks the cache and run directory
// (outputs.go: a run directory holding another config's run is refused
// unless Options.Replace).
//
// Execute reads the data and makes the split, gets the original (imported,
// read from the cache, or trained and cached), computes the members each
// population's cache lacks (the reference, retrained without the forget
// set, then one population per method; ShardSpec limits this to a slice of
// every population for runs spread over machines), scores every method
// against the reference with the attack suite (scores cached too), and
// writes the run directory's config.yaml and result.json. A dry run
// computes nothing and returns a Plan: what is cached, what would be
// computed, and an estimate of the time, scoring and attacks included at
// the rate earlier runs measured (costs.go, CACHE/costs.json).
//
// The config's scoring section (interval.go) passes the strict stop and
// F's bootstrap interval to evaluate (the interval on by default), marks
// the methods the intervals do not separate, keeps both in the score
// cache's key only where they differ from the defaults, grows N up to
// n_max until the widest interval meets target_width, and has a dry run
// state the N that width needs from the last result.
//
// A failed exec member does not end a run (failures.go): it is reported,
// the other members and methods go on, the method is recorded as
// incomplete and not scored, and a rerun computes only what is missing;
// each method is closed once its population is done, and the run
// directory keeps the split's labels beside result.json. A dry run
// estimates a population with no cached member from the last measured
// member of the same method and parameters (estimate.go).
//
// run prints nothing: status lines go to Options.Out, warnings to
// Options.Warn and progress to Options.Progress; drawing the ranking, the
// plan and the reports is the caller's (package reports). An interrupted
// run returns an *InterruptedError, with every completed member cached.
package run
