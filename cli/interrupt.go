package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// interruptible returns cmd's context cancelled by the first SIGINT or
// SIGTERM; stop() then restores the default handling, so that a second
// signal kills at once. Every long command uses it, so that an interrupt
// stops the work between two steps and exits 130 with nothing written,
// rather than killing the process wherever it is.
func interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	return ctx, stop
}

// interruptedBy is err as exit 130 when ctx was cancelled by a signal (not by
// cmd's own context), with what was not written; otherwise err unchanged.
func interruptedBy(cmd *cobra.Command, ctx context.Context, err error, notWritten string) error {
	if err == nil || ctx.Err() == nil || cmd.Context().Err() != nil {
		return err
	}
	return &exitCodeError{code: exitInterrupted, err: fmt.Errorf("interrupted: %w; %s", err, notWritten)}
}
