//go:build linux

package demo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestProcesses(t *testing.T) (*processes, chan *child) {
	t.Helper()
	exited := make(chan *child, 16)
	p := &processes{logDir: t.TempDir(), exited: exited}
	t.Cleanup(func() { p.stopAll(time.Second, func(*child) int { return 0 }) })
	return p, exited
}

// waitForLog polls a child's log until what the child wrote (after the command line the demo
// writes first) contains s, and returns the whole log.
func waitForLog(t *testing.T, c *child, s string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(c.LogPath)
		if _, output, _ := strings.Cut(string(data), "\n"); strings.Contains(output, s) {
			return string(data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: log never showed %q; it holds:\n%s", c.Name, s, data)
		}
		select {
		case <-c.Done():
			t.Fatalf("%s exited before its log showed %q: %v", c.Name, s, c.exitError())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestStartLogsAndStops(t *testing.T) {
	p, exited := newTestProcesses(t)
	c, err := p.start("greeter", "greeter", "/bin/sh", "-c", "echo hello from $0; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	log := waitForLog(t, c, "hello from")
	if !strings.HasPrefix(log, "# /bin/sh -c") {
		t.Errorf("log does not start with the command line:\n%s", log)
	}
	if filepath.Dir(c.LogPath) != p.logDir || filepath.Base(c.LogPath) != "greeter.log" {
		t.Errorf("log path = %s", c.LogPath)
	}
	start := time.Now()
	c.stop(5 * time.Second)
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("stop took %s: SIGTERM was not enough?", d)
	}
	select {
	case got := <-exited:
		if got != c {
			t.Errorf("exited reported %s", got.Name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("exit not reported")
	}
	if err := c.exitError(); !strings.Contains(err.Error(), "greeter exited") || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("exitError = %v", err)
	}
}

// A process group that ignores SIGTERM is killed after the timeout, grandchildren included.
func TestStopKillsStubbornGroup(t *testing.T) {
	p, _ := newTestProcesses(t)
	c, err := p.start("stubborn", "stubborn", "/bin/sh", "-c", `trap "" TERM; sleep 60 & echo "grandchild $!"; wait`)
	if err != nil {
		t.Fatal(err)
	}
	log := waitForLog(t, c, "grandchild ")
	var grandchild int
	for _, line := range strings.Split(log, "\n") {
		if rest, ok := strings.CutPrefix(line, "grandchild "); ok {
			grandchild = atoi(t, rest)
		}
	}
	if !alive(grandchild) {
		t.Fatalf("grandchild %d is not running", grandchild)
	}
	start := time.Now()
	c.stop(200 * time.Millisecond)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("stop took %s: the group should have ignored SIGTERM", d)
	}
	waitGone(t, grandchild)
}

// stopAll stops the highest tier first.
func TestStopAllOrder(t *testing.T) {
	p, _ := newTestProcesses(t)
	order := filepath.Join(t.TempDir(), "order")
	tiers := map[*child]int{}
	for _, s := range []struct {
		name string
		tier int
	}{{"weftd", tierWeftd}, {"app", tierApp}, {"proxy", tierProxy}} {
		script := `trap 'echo ` + s.name + ` >> ` + order + `; exit 0' TERM; echo ready; sleep 60 & wait`
		c, err := p.start(s.name, s.name, "/bin/sh", "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		waitForLog(t, c, "ready")
		tiers[c] = s.tier
	}
	p.stopAll(5*time.Second, func(c *child) int { return tiers[c] })
	data, err := os.ReadFile(order)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), "proxy\napp\nweftd\n"; got != want {
		t.Errorf("stop order = %q, want %q", got, want)
	}
}

func TestTailFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	var b strings.Builder
	for i := range 30 {
		b.WriteString("line " + itoa(i) + "\n")
	}
	writeFile(t, path, b.String())
	got := tailFile(path, 3)
	if want := "    line 27\n    line 28\n    line 29"; got != want {
		t.Errorf("tailFile = %q, want %q", got, want)
	}
	writeFile(t, filepath.Join(dir, "empty.log"), "")
	if got := tailFile(filepath.Join(dir, "empty.log"), 3); got != "    (empty)" {
		t.Errorf("tailFile(empty) = %q", got)
	}
	if got := tailFile(filepath.Join(dir, "missing.log"), 3); !strings.Contains(got, "no such file") {
		t.Errorf("tailFile(missing) = %q", got)
	}
}

func TestWaitUntil(t *testing.T) {
	p, exited := newTestProcesses(t)
	slow, err := p.start("slowpoke", "slowpoke", "/bin/sh", "-c", "echo still starting; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	waitForLog(t, slow, "still starting")

	t.Run("ready after a few checks", func(t *testing.T) {
		calls := 0
		err := waitUntil(context.Background(), "x", 10*time.Second, exited, func(context.Context) error {
			calls++
			if calls < 3 {
				return &notReady{who: slow, reason: "not yet"}
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("waitUntil = %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("timeout names the process and shows its log", func(t *testing.T) {
		err := waitUntil(context.Background(), "the proxies", 300*time.Millisecond, exited, func(context.Context) error {
			return &notReady{who: slow, reason: "GET /ready answered 503"}
		})
		for _, want := range []string{"waiting for the proxies", "slowpoke is not ready after 300ms", "GET /ready answered 503", "still starting"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error = %v, want it to contain %q", err, want)
			}
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := waitUntil(ctx, "x", 10*time.Second, exited, func(context.Context) error {
			return &notReady{who: slow, reason: "no"}
		})
		if err != context.Canceled {
			t.Errorf("error = %v, want context.Canceled", err)
		}
	})
	t.Run("a child exits", func(t *testing.T) {
		if _, err := p.start("crasher", "crasher", "/bin/sh", "-c", "echo cannot bind; exit 3"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := waitUntil(context.Background(), "the proxies", 30*time.Second, exited, func(context.Context) error {
			return &notReady{who: slow, reason: "no"}
		})
		for _, want := range []string{"crasher exited", "exit status 3", "cannot bind"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error = %v, want it to contain %q", err, want)
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %s to notice the exit", d)
		}
	})
}
