package unlearners

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// helperEnv makes TestExecHelperMember run one member, as a `run` would,
// in a process of its own that the test can kill.
const helperEnv = "UNLEARNBENCH_TEST_EXEC_HELPER"

// TestExecHelperMember is not a test: started by TestExecContainment with
// helperEnv set to a command, it runs one exec member with that command.
func TestExecHelperMember(t *testing.T) {
	line := os.Getenv(helperEnv)
	if line == "" {
		t.Skip("a helper process of TestExecContainment")
	}
	f := execFixtureFor(t)
	m := newExec(t, map[string]any{"command": line})
	m.Unlearn(context.Background(), f.inputs(21, ""))
}

// TestExecContainment: a sleeper the program forks dies with its member,
// however the member ends: success, failure, timeout, cancellation, and
// the death by SIGKILL of the process that ran the member, whose member
// folders the next start removes.
func TestExecContainment(t *testing.T) {
	f := execFixtureFor(t)
	for _, c := range []struct {
		name    string
		tail    string // what the program does after forking the sleeper
		timeout float64
		cancel  bool
		killRun bool
	}{
		{name: "success", tail: "cp {model} {out}", timeout: 60},
		{name: "failure", tail: "exit 3", timeout: 60},
		{name: "timeout", tail: "sleep 60", timeout: 0.5},
		{name: "cancel", tail: "sleep 60", timeout: 60, cancel: true},
		{name: "run killed", tail: "sleep 60", timeout: 60, killRun: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			// The sleeper leaves the program's stdout and stderr, as a
			// daemonised child would.
			helperTmp := ""
			line := `sh -c 'sleep 300 </dev/null >/dev/null 2>&1 & echo $! > ` + pidFile + `; ` + c.tail + `'`
			if c.killRun {
				helper := exec.Command(os.Args[0], "-test.run=^TestExecHelperMember$")
				helperTmp = t.TempDir()
				helper.Env = append(os.Environ(), helperEnv+"="+line, "TMPDIR="+helperTmp)
				if err := helper.Start(); err != nil {
					t.Fatal(err)
				}
				// The helper loads the fixture first: seconds, more under -race.
				for range 60 {
					if waitForFile(pidFile); fileHas(pidFile) {
						break
					}
				}
				helper.Process.Signal(syscall.SIGKILL)
				helper.Wait()
			} else {
				m := newExec(t, map[string]any{"command": line, "timeout": c.timeout})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if c.cancel {
					go func() {
						waitForFile(pidFile)
						cancel()
					}()
				}
				_, err := m.Unlearn(ctx, f.inputs(22, ""))
				if (err == nil) != (c.name == "success") {
					t.Fatalf("error %v", err)
				}
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			if !processGone(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("the program's child %d outlived its member", pid)
			}
			if helperTmp == "" {
				return
			}
			// The killed run's member folders are removed at the next start.
			left := func() (names []string) {
				ents, _ := os.ReadDir(helperTmp)
				for _, e := range ents {
					for _, p := range tempPrefixes {
						if strings.HasPrefix(e.Name(), p) {
							names = append(names, e.Name())
						}
					}
				}
				return names
			}
			if len(left()) == 0 {
				t.Fatal("the killed run left no member folder: the check below would pass vacuously")
			}
			removeDeadOwners(helperTmp, tempPrefixes, 0)
			if names := left(); len(names) != 0 {
				t.Errorf("the dead run's %v are still in $TMPDIR", names)
			}
		})
	}
}

func fileHas(p string) bool {
	b, err := os.ReadFile(p)
	return err == nil && len(b) > 0
}
