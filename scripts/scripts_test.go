// Package scripts holds the project's shell scripts; its test checks what
// can be checked of them without the network or a GPU.
package scripts

import (
	"os"
	"os/exec"
	"testing"
)

// TestDeviceCheckFits: the GPU check runs as one command line of the device
// machine, which takes under 2,000 characters.
func TestDeviceCheckFits(t *testing.T) {
	b, err := os.ReadFile("device-check.sh")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= 2000 {
		t.Fatalf("device-check.sh is %d characters; it must stay under 2,000", len(b))
	}
}

func TestSyntax(t *testing.T) {
	for _, s := range []string{"device-check.sh", "pack-ort-cuda.sh", "install-ort-cuda.sh", "install-ort.sh", "setup.sh"} {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}
}
