package usererr

import (
	"errors"
	"fmt"
	"testing"
)

func TestWrapAndIs(t *testing.T) {
	base := errors.New("bad value")
	if Is(base) {
		t.Fatal("plain error reported as a user error")
	}
	wrapped := fmt.Errorf("reading x.npy: %w", Wrap(base))
	if !Is(wrapped) {
		t.Fatal("wrapped user error not recognised")
	}
	if !errors.Is(wrapped, base) {
		t.Fatal("cause lost")
	}
	if Wrap(nil) != nil {
		t.Fatal("Wrap(nil) must be nil")
	}
	if got := Errorf("field %q: %d", "n", 3).Error(); got != `field "n": 3` {
		t.Fatalf("Errorf text = %q", got)
	}
}
