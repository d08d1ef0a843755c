package cli

import (
	"io"
	"strings"
	"sync"

	"unlearnbench/internal/progress"
)

// Helpers more than one command uses.

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// lazyBar is a progress bar started on the first report of progress, when
// the total is known; safe from several goroutines.
type lazyBar struct {
	w     io.Writer
	label string
	mu    sync.Mutex
	bar   *progress.Bar
	begun bool
}

func newLazyBar(w io.Writer, label string) *lazyBar { return &lazyBar{w: w, label: label} }

// set is the callback to hand to the work.
func (b *lazyBar) set(done, total int) {
	b.mu.Lock()
	if !b.begun {
		b.bar, b.begun = progress.New(b.w, b.label, total), true
	}
	bar := b.bar
	b.mu.Unlock()
	bar.Set(done)
}

// done ends the bar, if it was started; later calls do nothing.
func (b *lazyBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bar.Done()
	b.bar, b.begun = nil, true
}
