package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
)

// TestInterruptedBy: a SIGINT caught by interruptible turns the work's
// error into exit 130 saying what was not written; a cancelled parent
// context (the caller's, not a signal) and success pass through.
func TestInterruptedBy(t *testing.T) {
	cmd := &cobra.Command{}
	cmd.SetContext(context.Background())
	ctx, stop := interruptible(cmd)
	defer stop()
	seen := make(chan os.Signal, 1)
	signal.Notify(seen, syscall.SIGINT)
	defer signal.Stop(seen)
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	<-seen
	<-ctx.Done()
	err := interruptedBy(cmd, ctx, ctx.Err(), "nothing written")
	var ec *exitCodeError
	if !errors.As(err, &ec) || ec.code != exitInterrupted || !errors.Is(err, context.Canceled) || err.Error() != "interrupted: context canceled; nothing written" {
		t.Errorf("after SIGINT: %v, want exit %d saying nothing was written", err, exitInterrupted)
	}
	if interruptedBy(cmd, ctx, nil, "x") != nil {
		t.Error("no error became one")
	}
	parent, cancel := context.WithCancel(context.Background())
	cmd.SetContext(parent)
	ctx2, stop2 := interruptible(cmd)
	defer stop2()
	cancel()
	<-ctx2.Done()
	if err := interruptedBy(cmd, ctx2, ctx2.Err(), "x"); errors.As(err, &ec) {
		t.Errorf("caller's cancellation: %v, want the error unchanged", err)
	}
}
