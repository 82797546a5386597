// Package e2e holds Weft's end-to-end tests: they build the binaries and start real weftd,
// weft-proxy and application processes on 127.0.0.1.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
	"github.com/weftmesh/weft/internal/clientconfig"
)

// binDir holds the binaries built once for the whole run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "weft-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Built by scripts/build.sh, so that the tests run the binaries as they ship (its flags
	// live there alone). go test runs in this package's directory, two levels below the root.
	build := exec.Command("bash", filepath.Join("..", "..", "scripts", "build.sh"), dir)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a child process whose output goes to a log file.
type proc struct {
	t       testing.TB
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

func startProc(t testing.TB, name string, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, bin), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{t: t, name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("---- %s log (tail) ----\n%s", name, p.tail(40))
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) kill() {
	if p.running() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *proc) signal(sig syscall.Signal) {
	if p.running() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// wait waits for the process to exit and returns its error (nil for exit 0).
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %s", p.name, timeout)
	}
}

func (p *proc) tail(n int) string {
	data, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort returns a port that was free a moment ago on 127.0.0.1, one this test process has
// not handed out before. It is taken below the kernel's ephemeral range: the processes that
// will bind it are started later, and a port from that range could meanwhile become the
// source port of any outgoing connection on the machine (a restarted weftd must get its
// ports back too).
func freePort(t testing.TB) int {
	t.Helper()
	lo, hi := portPoolRange()
	portsMu.Lock()
	defer portsMu.Unlock()
	n := hi - lo
	start := rand.IntN(n)
	for i := range n {
		port := lo + (start+i)%n
		if portsGiven[port] {
			continue
		}
		l, err := net.Listen("tcp", addr(port))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[port] = true
		return port
	}
	t.Fatalf("no free port in %d-%d", lo, hi-1)
	return 0
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// portPoolRange is where freePort takes ports: from 10000 up to the start of the ephemeral
// range (net.ipv4.ip_local_port_range, 32768 by default).
func portPoolRange() (lo, hi int) {
	lo, hi = 10000, 32768
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	if f := strings.Fields(string(data)); len(f) == 2 {
		if start, err := strconv.Atoi(f[0]); err == nil && start > lo+1000 {
			hi = start
		}
	}
	return lo, hi
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// eventually polls cond until it returns nil or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval of a condition, not a wait for readiness
	}
}

// weftd is a running control plane.
type weftd struct {
	*proc
	dataDir    string
	apiAddr    string
	xdsAddr    string
	configPath string // weft's client config, with the admin token
	// adminBootstrap is a proxy bootstrap holding the admin token, so that a test's proxies
	// need no join token each (tokens_test.go covers join tokens).
	adminBootstrap string
}

func startWeftd(t testing.TB, dataDir, apiAddr, xdsAddr string, extra ...string) *weftd {
	t.Helper()
	args := append([]string{"--data-dir", dataDir, "--api-addr", apiAddr, "--xds-addr", xdsAddr}, extra...)
	w := &weftd{
		proc:       startProc(t, "weftd", "weftd", args...),
		dataDir:    dataDir,
		apiAddr:    apiAddr,
		xdsAddr:    xdsAddr,
		configPath: filepath.Join(dataDir, "client.yaml"),

		adminBootstrap: filepath.Join(dataDir, "admin-bootstrap.json"),
	}
	eventually(t, 20*time.Second, "weftd answers", func() error {
		if !w.running() {
			t.Fatalf("weftd exited: %v\n%s", w.err, w.tail(30))
		}
		c, err := w.client()
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = c.Version(ctx)
		return err
	})
	cfg, err := clientconfig.Load(w.configPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := apiclient.WriteBootstrap(w.adminBootstrap, cfg); err != nil {
		t.Fatal(err)
	}
	return w
}

func newWeftd(t testing.TB) *weftd {
	return startWeftd(t, t.TempDir(), addr(freePort(t)), addr(freePort(t)))
}

func (w *weftd) client() (*apiclient.Client, error) {
	cfg, err := clientconfig.Load(w.configPath)
	if err != nil {
		return nil, err
	}
	return apiclient.New(cfg)
}

// weft runs the CLI against this weftd and returns its combined output and exit error.
func (w *weftd) weft(t testing.TB, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "weft"), append([]string{"--config", w.configPath}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// mustApply applies YAML and fails the test if weftd refuses it.
func (w *weftd) mustApply(t testing.TB, yaml string) {
	t.Helper()
	if out, err := w.weft(t, yaml, "apply", "-f", "-"); err != nil {
		t.Fatalf("weft apply: %v\n%s", err, out)
	}
}

// proxy is a running weft-proxy.
type proxy struct {
	*proc
	adminAddr   string
	inboundPort int
	id          string
}

type proxyOpts struct {
	service, namespace, version, serviceAccount string
	apps                                        []string // PORT=HOST:PORT
	upstreams                                   []string // SVC.NS:PORT=LOCALPORT
	gateway                                     string
	extra                                       []string
}

func (w *weftd) startProxy(t testing.TB, o proxyOpts) *proxy {
	t.Helper()
	admin := addr(freePort(t))
	inbound := freePort(t)
	ns := o.namespace
	if ns == "" {
		ns = "default"
	}
	name := o.service
	if o.version != "" {
		name += "-" + o.version
	}
	id := fmt.Sprintf("%s-%d.%s", name, inbound, ns)
	args := []string{
		"--bootstrap", w.adminBootstrap, "--id", id, "--namespace", ns,
		"--address", "127.0.0.1", "--inbound-port", strconv.Itoa(inbound), "--admin-addr", admin,
		"--drain-grace", "500ms",
	}
	if o.gateway != "" {
		args = append(args, "--mode", "gateway", "--gateway", o.gateway, "--service", o.gateway)
	} else {
		args = append(args, "--service", o.service)
	}
	if o.version != "" {
		args = append(args, "--version", o.version)
	}
	if o.serviceAccount != "" {
		args = append(args, "--service-account", o.serviceAccount)
	}
	for _, a := range o.apps {
		args = append(args, "--app", a)
	}
	for _, u := range o.upstreams {
		args = append(args, "--upstream", u)
	}
	args = append(args, o.extra...)
	p := &proxy{proc: startProc(t, "proxy-"+name, "weft-proxy", args...), adminAddr: admin, inboundPort: inbound, id: id}
	p.waitReady(t)
	return p
}

func (p *proxy) waitReady(t testing.TB) {
	t.Helper()
	eventually(t, 20*time.Second, p.name+" ready", func() error {
		if !p.running() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.tail(30))
		}
		resp, err := http.Get("http://" + p.adminAddr + "/ready")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/ready answered %d: %s", resp.StatusCode, body)
		}
		return nil
	})
}

// configDump reads the proxy's running config.
func (p *proxy) configDump(t testing.TB) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + p.adminAddr + "/config_dump")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// app is a running demo-app.
type app struct {
	*proc
	addr string
}

func startApp(t testing.TB, name, version string, calls ...string) *app {
	t.Helper()
	a := addr(freePort(t))
	args := []string{"--name", name, "--version", version, "--listen", a}
	for _, c := range calls {
		args = append(args, "--call", c)
	}
	p := &app{proc: startProc(t, "app-"+name+"-"+version, "demo-app", args...), addr: a}
	eventually(t, 10*time.Second, p.name+" listening", func() error {
		resp, err := http.Get("http://" + a + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return p
}

// answer is what demo-app answers.
type answer struct {
	Service string   `json:"service"`
	Version string   `json:"version"`
	Calls   []answer `json:"calls"`
	Error   string   `json:"error"`
}

var httpClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 16},
}

// get sends GET url and decodes a demo-app answer.
func get(url string, header ...string) (answer, int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return answer{}, 0, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return answer{}, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, resp.StatusCode, err
	}
	var a answer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &a); err != nil {
			return a, resp.StatusCode, fmt.Errorf("decoding %q: %w", body, err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		return a, resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return a, resp.StatusCode, nil
}

// traffic sends GET requests to url from a few goroutines until stop is closed or max requests
// were sent (bounded in count and time), and counts the outcomes.
type traffic struct {
	mu       sync.Mutex
	ok       int
	failed   int
	failures []string
	versions map[string]int
	stop     chan struct{}
	done     chan struct{}
}

func startTraffic(url string, workers, max int, limit time.Duration) *traffic {
	tr := &traffic{versions: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	deadline := time.Now().Add(limit)
	var wg sync.WaitGroup
	var sent int
	var sentMu sync.Mutex
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-tr.stop:
					return
				default:
				}
				sentMu.Lock()
				if sent >= max || time.Now().After(deadline) {
					sentMu.Unlock()
					return
				}
				sent++
				sentMu.Unlock()
				a, _, err := get(url)
				tr.mu.Lock()
				if err != nil {
					tr.failed++
					if len(tr.failures) < 10 {
						tr.failures = append(tr.failures, err.Error())
					}
				} else {
					tr.ok++
					tr.versions[a.Version]++
				}
				tr.mu.Unlock()
			}
		}()
	}
	go func() { wg.Wait(); close(tr.done) }()
	return tr
}

// count returns the number of requests answered so far.
func (tr *traffic) count() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.ok + tr.failed
}

// waitFor waits until at least n more requests were answered, so a test knows traffic flows.
func (tr *traffic) waitFor(t testing.TB, n int) {
	t.Helper()
	start := tr.count()
	eventually(t, 20*time.Second, "traffic flowing", func() error {
		if c := tr.count(); c < start+n {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			return fmt.Errorf("%d requests so far (%d ok, %d failed in all; last failures: %v)", c-start, tr.ok, tr.failed, tr.failures)
		}
		return nil
	})
}

func (tr *traffic) finish(t testing.TB) (ok, failed int) {
	t.Helper()
	close(tr.stop)
	select {
	case <-tr.done:
	case <-time.After(30 * time.Second):
		t.Fatal("traffic did not stop")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.failed > 0 {
		t.Errorf("%d of %d requests failed; first failures: %s", tr.failed, tr.ok+tr.failed, strings.Join(tr.failures, " | "))
	}
	return tr.ok, tr.failed
}

var errNotYet = errors.New("not yet")

func fileMode(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
