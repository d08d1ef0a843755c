package unlearners

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// The guard: on Linux an exec program runs under a copy of this binary
// (os.Executable, started with guardEnv set) that leads the member's
// process group. The kernel sends the guard SIGTERM when unlearnbench
// dies, even by SIGKILL (Pdeathsig), and the guard then kills the whole
// group. Pdeathsig alone on the program would reach the program only,
// not the children it forked, which a shell's `sleep &` or a Python data
// loader's workers are; a cgroup would need privileges.

// guardEnv marks a process started as a guard; the program does not see it.
const guardEnv = "UNLEARNBENCH_EXEC_GUARD"

func init() {
	if os.Getenv(guardEnv) == "1" {
		os.Exit(runGuard(os.Args[1:]))
	}
}

// guard makes cmd start the guard, which starts cmd's program. cmd's
// lookup error, if any, is left for Start to report as before.
func guard(cmd *exec.Cmd) {
	if cmd.Err != nil {
		return
	}
	self, err := os.Executable()
	if err != nil {
		return // no guard: the group is still killed when the member ends
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env[:len(env):len(env)], guardEnv+"=1")
	cmd.Args = append([]string{self, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = self
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
}

// runGuard runs args as a child in the guard's own process group and
// returns its exit status; SIGTERM, SIGINT or SIGHUP (unlearnbench's
// death) kill the whole group, the guard with it.
func runGuard(args []string) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	os.Unsetenv(guardEnv)
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "unlearnbench exec guard: no program")
		return 127
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, os.ErrPermission) {
			return 126
		}
		return 127
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-sigs:
		syscall.Kill(0, syscall.SIGKILL)
		return 137
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				// Die of the same signal, so unlearnbench reports it.
				signal.Reset(ws.Signal())
				syscall.Kill(os.Getpid(), ws.Signal())
				return 128 + int(ws.Signal())
			}
			return ee.ExitCode()
		} else if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 127
		}
		return 0
	}
}
