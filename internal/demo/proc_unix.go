//go:build unix

package demo

import (
	"os/exec"
	"syscall"
)

// terminate sends SIGTERM to the child's process group.
func terminate(cmd *exec.Cmd) { signalGroup(cmd, syscall.SIGTERM) }

// kill sends SIGKILL to the child's process group.
func kill(cmd *exec.Cmd) { signalGroup(cmd, syscall.SIGKILL) }

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	// The child leads its own group (Setpgid), so -pid names the group.
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		_ = cmd.Process.Signal(sig)
	}
}
