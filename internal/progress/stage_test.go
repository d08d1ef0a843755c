package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while the ticker goroutine
// writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// In a log (not a terminal) a stage writes a plain line with its ETA at
// most every interval, on progress or on a tick while no progress comes,
// and a closing line only when it wrote any: the clock and the ticks are
// the test's, so nothing depends on wall time.
func TestStagePlainLines(t *testing.T) {
	no := false
	for _, c := range []struct {
		name  string
		steps func(s *Stage, clk *fakeClock)
		want  []string
	}{
		{"quick stage writes nothing", func(s *Stage, clk *fakeClock) {
			for i := 1; i <= 4; i++ {
				clk.advance(time.Second)
				s.Update(i, 4)
			}
		}, nil},
		{"a line per interval with the ETA", func(s *Stage, clk *fakeClock) {
			for i := 1; i <= 32; i++ {
				clk.advance(5 * time.Second)
				s.Update(i, 32)
			}
		}, []string{
			// 10 s for 2 members: 5 s each, 30 to go.
			"computing reference: 2/32 members, ETA 2m30s",
			"computing reference: 4/32 members, ETA 2m20s",
		}},
		{"the ticker speaks while no progress comes", func(s *Stage, clk *fakeClock) {
			s.Update(0, 8)
			clk.advance(4 * time.Second)
			s.Tick() // too early: nothing
			clk.advance(8 * time.Second)
			s.Tick()
			clk.advance(8 * time.Second)
			s.Update(1, 8)
			clk.advance(20 * time.Second)
			s.Tick()
		}, []string{
			"computing reference: 0/8 members, 12s elapsed, no ETA yet",
			// 8 s after the last line: progress alone writes none.
			"computing reference: 1/8 members, ETA 4m40s",
			"computing reference: stopped at 1/8 members after 40s",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out syncBuffer
			clk := &fakeClock{t: time.Unix(1000, 0)}
			s := StartStage(&out, "computing reference", Options{Unit: "members", Interval: 10 * time.Second, Now: clk.now, NoTicker: true, Terminal: &no})
			c.steps(s, clk)
			s.End()
			s.End() // a second End does nothing
			text := out.String()
			lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
			if text == "" {
				lines = nil
			}
			if c.want == nil && len(lines) != 0 {
				t.Fatalf("wrote %q; want nothing", text)
			}
			for _, w := range c.want {
				if !strings.Contains(text, w+"\n") {
					t.Errorf("lacks %q:\n%s", w, text)
				}
			}
			if c.name == "the ticker speaks while no progress comes" && len(lines) != len(c.want) {
				t.Errorf("%d lines; want exactly %d:\n%s", len(lines), len(c.want), text)
			}
			if c.name == "a line per interval with the ETA" {
				// 160 s in all: one line per 10 s (16), the closing one.
				if len(lines) != 17 || lines[16] != "computing reference: 32/32 members, done in 2m40s" {
					t.Errorf("%d lines, last %q; want 17, the closing one last", len(lines), lines[len(lines)-1])
				}
			}
		})
	}
}

// A nil stage (no reporting asked for) does nothing.
func TestNilStage(t *testing.T) {
	var s *Stage
	s.Update(1, 2)
	s.End()
}
