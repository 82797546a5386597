package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemo runs `weft demo` as a newcomer would, calls the gateway, changes the canary route
// with `weft apply` while traffic flows, and stops it with Ctrl-C.
func TestDemo(t *testing.T) {
	home := t.TempDir()
	port := freePort(t)
	logPath := filepath.Join(t.TempDir(), "demo.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "weft"), "demo", "--port", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "HOME="+home, "WEFT_CONFIG=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("---- weft demo output ----\n%s", data)
		}
	})

	gateway := "http://" + addr(port) + "/"
	var a answer
	eventually(t, 120*time.Second, "the demo answers on the gateway", func() error {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("weft demo exited early: %v", err)
		default:
		}
		a, _, err = get(gateway)
		return err
	})
	// The answer shows every service of the chain.
	if a.Service != "web-api" || len(a.Calls) != 1 || a.Calls[0].Service != "recommendation" ||
		len(a.Calls[0].Calls) != 1 || a.Calls[0].Calls[0].Service != "purchase-history" {
		t.Fatalf("demo answer does not show the chain: %+v", a)
	}
	var out []byte
	eventually(t, 10*time.Second, "the demo prints what to try", func() error {
		out, _ = os.ReadFile(logPath)
		if !strings.Contains(string(out), "Ctrl-C") {
			return errNotYet
		}
		return nil
	})
	for _, s := range []string{"weft get workloads", "weft apply"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("the demo does not suggest %q:\n%s", s, out)
		}
	}

	// The CLI talks to the demo with no extra flags (the demo installed the client config).
	weft := func(args ...string) (string, error) {
		c := exec.Command(filepath.Join(binDir, "weft"), args...)
		c.Env = append(os.Environ(), "HOME="+home, "WEFT_CONFIG=")
		b, err := c.CombinedOutput()
		return string(b), err
	}
	if out, err := weft("get", "workloads"); err != nil || !strings.Contains(out, "purchase-history") {
		t.Fatalf("weft get workloads: %v\n%s", err, out)
	}

	// A route change takes effect while traffic flows: everything to v2.
	tr := startTraffic(gateway, 2, 100000, 60*time.Second)
	tr.waitFor(t, 20)
	route := `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: recommendation, namespace: default}
spec:
  parentRefs: [{kind: Service, name: recommendation, port: 8080}]
  rules:
  - backendRefs: [{name: recommendation-v2, port: 8080}]
`
	routeFile := filepath.Join(t.TempDir(), "all-v2.yaml")
	os.WriteFile(routeFile, []byte(route), 0o600)
	if out, err := weft("apply", "-f", routeFile); err != nil {
		t.Fatalf("weft apply: %v\n%s", err, out)
	}
	eventually(t, 20*time.Second, "all traffic on recommendation v2", func() error {
		for i := 0; i < 10; i++ {
			a, _, err := get(gateway)
			if err != nil {
				return err
			}
			if len(a.Calls) == 0 || a.Calls[0].Version != "v2" {
				return fmt.Errorf("answer %+v", a)
			}
		}
		return nil
	})
	tr.finish(t)

	// Ctrl-C stops everything the demo started.
	children := descendants(cmd.Process.Pid)
	if len(children) < 10 {
		t.Fatalf("the demo runs %d child processes, want at least weftd, 5 proxies and 4 apps", len(children))
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("weft demo exited with %v after Ctrl-C", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("weft demo did not stop after Ctrl-C")
	}
	eventually(t, 10*time.Second, "no demo process left", func() error {
		var alive []int
		for _, pid := range children {
			if syscall.Kill(pid, 0) == nil && !isZombie(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) > 0 {
			return fmt.Errorf("still running: %v", alive)
		}
		return nil
	})
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses and may hold spaces.
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 {
			pp, _ := strconv.Atoi(fields[1])
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func isZombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] == "Z"
}
