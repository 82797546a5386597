package demo

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// child is a program the demo started. Its output goes to a log file.
type child struct {
	Name    string // e.g. "web-api v1 proxy"
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited
	waitErr error         // how it exited; read only after done is closed
}

// Pid returns the process ID.
func (c *child) Pid() int { return c.cmd.Process.Pid }

// Done is closed when the process has exited.
func (c *child) Done() <-chan struct{} { return c.done }

// exitError describes how the process ended; call it only after Done is closed.
func (c *child) exitError() error {
	if c.waitErr == nil {
		return fmt.Errorf("%s exited", c.Name)
	}
	return fmt.Errorf("%s exited: %w", c.Name, c.waitErr)
}

// tail returns the last lines of the child's log, indented, for an error message.
func (c *child) tail() string {
	return fmt.Sprintf("last lines of %s:\n%s", c.LogPath, tailFile(c.LogPath, 15))
}

// stop asks the child's process group to end (SIGTERM) and kills it (SIGKILL) if it has not
// ended after timeout. It returns once the process has exited.
func (c *child) stop(timeout time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	terminate(c.cmd)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.done:
		return
	case <-timer.C:
	}
	kill(c.cmd)
	<-c.done
}

// processes starts children and stops them all, the last started first.
type processes struct {
	logDir string
	// exited, if not nil, receives every child that exits (when it has room).
	exited chan<- *child

	mu       sync.Mutex
	children []*child
}

// start runs path with args as a child in its own process group (which dies with the demo on
// Linux), its output appended to <logDir>/<logName>.log.
func (p *processes) start(name, logName, path string, args ...string) (*child, error) {
	logPath := filepath.Join(p.logDir, logName+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("starting %s: opening its log: %w", name, err)
	}
	defer f.Close() // the child has its own descriptor once started
	fmt.Fprintf(f, "# %s %s\n", path, strings.Join(args, " "))

	cmd := exec.Command(path, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, path, err)
	}
	c := &child{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
		select {
		case p.exited <- c:
		default:
		}
	}()
	p.mu.Lock()
	p.children = append(p.children, c)
	p.mu.Unlock()
	return c, nil
}

// list returns the children started so far.
func (p *processes) list() []*child {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*child(nil), p.children...)
}

// stopAll stops the children in tiers, the last started first: every child of a tier is
// stopped at once, and a tier starts only when the one after it has stopped. tierOf groups
// children (children with the same tier number stop together; higher tiers stop first).
func (p *processes) stopAll(timeout time.Duration, tierOf func(*child) int) {
	children := p.list()
	tiers := map[int][]*child{}
	maxTier, minTier := 0, 0
	for i, c := range children {
		t := tierOf(c)
		if i == 0 || t > maxTier {
			maxTier = t
		}
		if i == 0 || t < minTier {
			minTier = t
		}
		tiers[t] = append(tiers[t], c)
	}
	for t := maxTier; t >= minTier; t-- {
		var wg sync.WaitGroup
		for _, c := range tiers[t] {
			wg.Go(func() { c.stop(timeout) })
		}
		wg.Wait()
	}
}

// tailFile returns the last n lines of a file, each indented by four spaces.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	defer f.Close()
	const maxTail = 16 << 10
	if info, err := f.Stat(); err == nil && info.Size() > maxTail {
		_, _ = f.Seek(info.Size()-maxTail, io.SeekStart)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	lines := strings.Split(string(bytes.TrimRight(data, "\n")), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "    (empty)"
	}
	return "    " + strings.Join(lines, "\n    ")
}
