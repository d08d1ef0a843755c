//go:build !unix

package unlearners

import "os/exec"

// ownProcessGroup leaves cmd as it is: without process groups a timeout
// or cancellation kills the program itself (exec.CommandContext's
// default), not its children.
func ownProcessGroup(cmd *exec.Cmd) {}

// endGroup has no group to end without process groups.
func endGroup(cmd *exec.Cmd) {}

// processAlive cannot tell without signals: every process counts as
// alive, so nothing of another run is removed.
func processAlive(pid int) bool { return true }

// processStart is not known here.
func processStart(pid int) uint64 { return 0 }
