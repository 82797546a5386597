//go:build unix && !linux

package demo

import "syscall"

// childSysProcAttr puts a child in its own process group, so that Ctrl-C in the terminal
// reaches only the demo, which then stops its children in order. (Only Linux can also have the
// kernel kill children when the demo dies.)
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
