//go:build unix

package unlearners

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// processAlive reports whether a process pid exists (a zombie counts).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// processStart is pid's start time in clock ticks since boot, from
// /proc (field 22 of stat), or 0 where there is no /proc.
func processStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold blanks: count fields
	// after its closing parenthesis, which is field 2.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}
