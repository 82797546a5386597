package demo

import "syscall"

// childSysProcAttr puts a child in its own process group, so that Ctrl-C in the terminal
// reaches only the demo (which then stops its children in order), and has the kernel kill the
// child if the demo itself dies, even by SIGKILL.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
