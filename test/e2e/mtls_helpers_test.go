package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// plaintextStatus sends one plaintext HTTP request on a new connection to address and returns
// the status line, or "" when the connection ends without an HTTP answer (refused).
func plaintextStatus(address string) (string, error) {
	c, err := net.DialTimeout("tcp", address, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, "GET /plaintext HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n"); err != nil {
		return "", nil // closed before the request was written: refused
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/") {
		return "", nil
	}
	return strings.TrimSpace(line), nil
}

// wantPlaintext waits until a plaintext request to address is answered 200 (served) or
// refused, as the config in force says.
func wantPlaintext(t *testing.T, address string, served bool) {
	t.Helper()
	what := "plaintext to " + address + " refused"
	if served {
		what = "plaintext to " + address + " served"
	}
	eventually(t, 20*time.Second, what, func() error {
		line, err := plaintextStatus(address)
		if err != nil {
			return err
		}
		switch {
		case served && line != "HTTP/1.1 200 OK":
			return fmt.Errorf("status line %q", line)
		case !served && line != "":
			return fmt.Errorf("answered %q", line)
		}
		return nil
	})
}

// startBannerServer is a server that speaks first: on accept it writes banner and then echoes
// what it reads. It runs in the test process on 127.0.0.1.
func startBannerServer(t *testing.T, banner string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.WriteString(c, banner); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// readBanner connects to address and only reads, as a client of a server-first protocol does.
// It returns the first line and how long it took to arrive.
func readBanner(address string) (string, time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", address, 2*time.Second)
	if err != nil {
		return "", 0, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return line, time.Since(start), err
}

// mtlsReport is the part of `weft mtls report -o json` the tests read.
type mtlsReport struct {
	Workloads []struct {
		ID         string `json:"id"`
		ProxyError string `json:"proxyError"`
		Ports      []struct {
			Port           int32  `json:"port"`
			Mode           string `json:"mode"`
			ReadyForStrict bool   `json:"readyForStrict"`
			Verdict        string `json:"verdict"`
			PlaintextPeers []struct {
				Address string `json:"address"`
				Count   int    `json:"count"`
			} `json:"plaintextPeers"`
		} `json:"ports"`
	} `json:"workloads"`
}

// mtlsReportFor runs `weft mtls report -o json` and returns the row of a workload's port.
func (w *weftd) mtlsReportFor(t *testing.T, workloadID string, port int32) (verdict string, ready bool, peers map[string]int, err error) {
	t.Helper()
	out, runErr := w.weft(t, "", "mtls", "report", "-o", "json")
	if runErr != nil {
		return "", false, nil, fmt.Errorf("weft mtls report: %v\n%s", runErr, out)
	}
	var rep mtlsReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return "", false, nil, fmt.Errorf("decoding the report: %v\n%s", err, out)
	}
	for _, wl := range rep.Workloads {
		if wl.ID != workloadID {
			continue
		}
		if wl.ProxyError != "" {
			return "", false, nil, fmt.Errorf("the report could not read %s's proxy: %s", workloadID, wl.ProxyError)
		}
		for _, p := range wl.Ports {
			if p.Port == port {
				peers = map[string]int{}
				for _, peer := range p.PlaintextPeers {
					peers[peer.Address] += peer.Count
				}
				return p.Verdict, p.ReadyForStrict, peers, nil
			}
		}
	}
	return "", false, nil, fmt.Errorf("no row for %s port %d in:\n%s", workloadID, port, out)
}

// metric reads the value of one sample of a proxy's /stats/prometheus, by its full name with
// labels as Prometheus prints them (e.g. `weft_x_total{listener="inbound"}`); 0 if absent.
func (p *proxy) metric(t *testing.T, sample string) float64 {
	t.Helper()
	v, err := authzMetric(p, sample)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
