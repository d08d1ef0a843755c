package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Options set how a Stage reports; zero values take the defaults.
type Options struct {
	// Unit names what is counted ("members"), for plain lines.
	Unit string
	// Interval is the least time between two plain lines (default
	// DefaultInterval).
	Interval time.Duration
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
	// NoTicker leaves out the ticker that writes a plain line while no
	// progress is reported (a long member); tests call Tick instead.
	NoTicker bool
	// Terminal overrides the detection of a terminal on w (tests).
	Terminal *bool
}

// DefaultInterval is how often a log gets a line: often enough that a
// CI or Slurm log shows a run is alive, rarely enough that a long run's
// log stays readable.
const DefaultInterval = 10 * time.Second

// Stage reports the progress of one stage of work whose total is known
// only once work reports it: on a terminal a bar with its ETA; otherwise
// (a CI log, a Slurm output file) a plain line at most every Interval,
// "computing reference: 12/32 members, ETA 1m20s", and a closing line
// when any was written. A stage shorter than Interval writes nothing to a
// log, so that quick commands' output stays exactly their result. A nil
// *Stage is valid and does nothing.
type Stage struct {
	w     io.Writer
	label string
	o     Options
	term  bool
	bar   *Bar
	stop  chan struct{}
	once  sync.Once

	mu          sync.Mutex
	start, last time.Time
	done, total int
	printed     bool
	ended       bool
}

// StartStage starts reporting the stage label on w, from now.
func StartStage(w io.Writer, label string, o Options) *Stage {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	term := IsTerminal(w)
	if o.Terminal != nil {
		term = *o.Terminal
	}
	s := &Stage{w: w, label: label, o: o, term: term, stop: make(chan struct{})}
	s.start = o.Now()
	s.last = s.start
	if !term && !o.NoTicker {
		t := time.NewTicker(o.Interval)
		go func() {
			defer t.Stop()
			for {
				select {
				case <-s.stop:
					return
				case <-t.C:
					s.Tick()
				}
			}
		}()
	}
	return s
}

// Tick writes a plain line if one is due: the ticker calls it, so that a
// log hears from a stage whose units take longer than Interval.
func (s *Stage) Tick() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.line(false)
	}
}

// Update records done of total units; safe from several goroutines, and
// a smaller done than one seen is ignored.
func (s *Stage) Update(done, total int) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.term {
		if s.bar == nil && s.total == 0 {
			s.bar = New(s.w, s.label, total)
		}
		s.total = total
		s.bar.Set(done)
		return
	}
	if done > s.done || total != s.total {
		s.done, s.total = max(done, s.done), total
	}
	s.line(false)
}

// End ends the stage (finished or not); later calls do nothing.
func (s *Stage) End() {
	if s == nil {
		return
	}
	s.once.Do(func() { close(s.stop) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	if s.term {
		s.bar.Done()
		return
	}
	if s.printed {
		s.line(true)
	}
}

// line writes the plain line when Interval has passed since the last one
// (or the stage's start), or the closing line; s.mu is held.
func (s *Stage) line(closing bool) {
	now := s.o.Now()
	if s.term || s.total <= 0 || (!closing && now.Sub(s.last) < s.o.Interval) {
		return
	}
	s.last, s.printed = now, true
	elapsed := now.Sub(s.start)
	unit := ""
	if s.o.Unit != "" {
		unit = " " + s.o.Unit
	}
	switch {
	case closing && s.done >= s.total:
		fmt.Fprintf(s.w, "%s: %d/%d%s, done in %s\n", s.label, s.done, s.total, unit, roundDuration(elapsed))
	case closing:
		fmt.Fprintf(s.w, "%s: stopped at %d/%d%s after %s\n", s.label, s.done, s.total, unit, roundDuration(elapsed))
	case s.done == 0:
		fmt.Fprintf(s.w, "%s: %d/%d%s, %s elapsed, no ETA yet\n", s.label, s.done, s.total, unit, roundDuration(elapsed))
	default:
		eta := time.Duration(float64(elapsed) / float64(s.done) * float64(s.total-s.done))
		fmt.Fprintf(s.w, "%s: %d/%d%s, ETA %s\n", s.label, s.done, s.total, unit, roundDuration(eta))
	}
}

// roundDuration rounds d to what a log reader needs: seconds, or tenths
// below ten seconds.
func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
