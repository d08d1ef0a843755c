// Package progress shows a progress bar with its ETA for long work on a
// terminal (through mpb) and stays silent otherwise, so that pipes and tests
// see only the command's real output; a Stage (run's populations, scoring
// and attacks) writes a plain line every few seconds to a log instead
// (stage.go), so that CI and batch logs show where a long run is.
package progress

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Bar counts work done towards a total. A nil *Bar is valid and does nothing.
type Bar struct {
	p    *mpb.Progress
	bar  *mpb.Bar
	mu   sync.Mutex
	last int64
	at   time.Time
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// New starts a bar on w when w is a terminal; otherwise it returns nil.
func New(w io.Writer, label string, total int) *Bar {
	if !IsTerminal(w) || total <= 0 {
		return nil
	}
	p := mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))
	bar := p.AddBar(int64(total),
		mpb.PrependDecorators(decor.Name(label+" "), decor.CountersNoUnit("%d / %d")),
		mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Name(" ETA "), decor.EwmaETA(decor.ET_STYLE_GO, 30)),
	)
	return &Bar{p: p, bar: bar, at: time.Now()}
}

// Set records that done units are complete; safe from several goroutines,
// and a smaller value than one already seen is ignored.
func (b *Bar) Set(done int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if int64(done) > b.last {
		now := time.Now()
		b.bar.EwmaSetCurrent(int64(done), now.Sub(b.at))
		b.last, b.at = int64(done), now
	}
}

// Done finishes the bar (or abandons it when the work failed) and waits
// for it to be drawn.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	if !b.bar.Completed() {
		b.bar.Abort(false)
	}
	b.p.Wait()
}
