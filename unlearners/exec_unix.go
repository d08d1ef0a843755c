//go:build unix

package unlearners

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts cmd in a process group of its own and makes a
// timeout or cancellation kill that whole group, so the children a
// program starts (a Python interpreter's workers, a shell's commands) die
// with it. On Linux the program also runs under a guard (exec_guard_linux.go)
// that takes the group with it when unlearnbench itself dies.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	guard(cmd)
}

// endGroup kills what is left of cmd's process group once cmd has ended:
// children a program forked and left running (a sleeper, a data loader)
// would otherwise outlive their member, whether it succeeded or failed.
// The group keeps its ID while any member lives, so the ID names no other
// process.
func endGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
