//go:build !unix

package unlearners

import "os/exec"

// ownProcessGroup leaves cmd as it is: without process groups a timeout
// or cancellation kills the program itself (exec.CommandContext's
// default), not its children.
func ownProcessGroup(cmd *exec.Cmd) {}

// endGroup has no group to end without process groups.
func endGroup(cmd *exec.Cmd) {}
