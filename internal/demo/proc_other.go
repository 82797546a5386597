//go:build !unix

package demo

import (
	"os/exec"
	"syscall"
)

func childSysProcAttr() *syscall.SysProcAttr { return nil }

// terminate ends the child: without process groups and SIGTERM, it is killed.
func terminate(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// kill kills the child.
func kill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
