package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftmesh/weft/internal/apiclient"
)

// fakeCAAPI is weftd's CA API as the CLI sees it: a rotation goes through the phases, one
// per status read.
type fakeCAAPI struct {
	mu       sync.Mutex
	requests []apiclient.CARotateRequest
	phases   []string // the phases the next status reads answer
	refuse   string   // answered (422) to a rotation request when set
}

func (f *fakeCAAPI) status(phase string) apiclient.CAStatus {
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := apiclient.CAStatus{
		Phase:   phase,
		Signing: apiclient.CASource{Type: "builtin", Dir: "/data/ca"},
		Issuer:  apiclient.CACertificate{Subject: "CN=Weft development root CA,O=Weft", Fingerprint: "AA:BB", NotAfter: since.AddDate(10, 0, 0)},
		Roots: []apiclient.CARoot{
			{CACertificate: apiclient.CACertificate{Subject: "CN=Weft development root CA,O=Weft", Fingerprint: "AA:BB", NotAfter: since.AddDate(10, 0, 0)}, Role: "current", Signs: true},
		},
	}
	if phase != "idle" {
		st.Started, st.PhaseSince = &since, &since
		st.Target = &apiclient.CASource{Type: "files", CertFile: "/pki/ca.pem", RootFile: "/pki/root.pem"}
		st.Roots = append(st.Roots, apiclient.CARoot{CACertificate: apiclient.CACertificate{Subject: "CN=Example Root", Fingerprint: "CC:DD", NotAfter: since.AddDate(20, 0, 0)}, Role: "incoming"})
		st.Lagging = []apiclient.CALaggard{{Kind: "proxy", ID: "web-1.default", Reason: "has not applied a trust bundle with the new root yet"}}
		st.LaggingTotal = 3
	}
	return st
}

func (f *fakeCAAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/ca/rotate", func(w http.ResponseWriter, r *http.Request) {
		var req apiclient.CARotateRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.refuse != "" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_ = json.NewEncoder(w).Encode(apiclient.Error{Message: f.refuse})
			return
		}
		f.requests = append(f.requests, req)
		_ = json.NewEncoder(w).Encode(f.status("trust"))
	})
	mux.HandleFunc("GET /v1/ca/status", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		phase := "idle"
		if len(f.phases) > 0 {
			phase, f.phases = f.phases[0], f.phases[1:]
		}
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(f.status(phase))
	})
	return mux
}

func TestCAStatus(t *testing.T) {
	f := &fakeCAAPI{phases: []string{"trust"}}
	out, _, err := runWeft(t, f.handler(), "ca", "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Signing CA:  a built-in root (/data/ca)",
		"Rotation:    phase trust: the new roots join every proxy's trust bundle; the old CA still signs (waiting for 3: proxy web-1.default)",
		"Moving to:   the CA of /pki/ca.pem, root /pki/root.pem",
		"Trust bundle (2 roots):",
		"AA:BB", "current", "yes", "CC:DD", "incoming",
		"Waiting for 3:\n  proxy web-1.default: has not applied a trust bundle with the new root yet\n  ... and 2 more",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("weft ca status does not show %q:\n%s", want, out)
		}
	}
	out, _, err = runWeft(t, (&fakeCAAPI{}).handler(), "ca", "status", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var st apiclient.CAStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Phase != "idle" || len(st.Roots) != 1 {
		t.Fatalf("weft ca status -o json: %v\n%s", err, out)
	}
}

func TestCARotate(t *testing.T) {
	defer func(d time.Duration) { caPollInterval = d }(caPollInterval)
	caPollInterval = 5 * time.Millisecond
	f := &fakeCAAPI{phases: []string{"trust", "reissue", "reissue", "retire", "idle"}}
	out, _, err := runWeft(t, f.handler(), "ca", "rotate", "--cert-file", "/pki/ca.pem", "--key-file", "/pki/ca-key.pem",
		"--chain-file", "/pki/chain.pem", "--root-file", "/pki/root.pem", "--wait")
	if err != nil {
		t.Fatalf("weft ca rotate --wait: %v\n%s", err, out)
	}
	want := apiclient.CARotateRequest{CertFile: "/pki/ca.pem", KeyFile: "/pki/ca-key.pem", ChainFile: "/pki/chain.pem", RootFile: "/pki/root.pem"}
	if len(f.requests) != 1 || f.requests[0] != want {
		t.Errorf("rotation requests = %+v, want %+v", f.requests, want)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	wantPrefixes := []string{"CA rotation started, to the CA of /pki/ca.pem", "phase trust:", "phase reissue:", "phase retire:", "CA rotation done:"}
	if len(lines) != len(wantPrefixes) {
		t.Fatalf("--wait printed %d lines, want one per phase change:\n%s", len(lines), out)
	}
	for i, p := range wantPrefixes {
		if !strings.HasPrefix(lines[i], p) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], p)
		}
	}

	refusals := []struct {
		args []string
		want string
	}{
		{[]string{}, "name the CA to rotate to"},
		{[]string{"--builtin", "--cert-file", "/a"}, "not both"},
		{[]string{"--cert-file", "/pki/ca.pem"}, "needs --key-file and --root-file"},
	}
	for _, r := range refusals {
		_, _, err := runWeft(t, (&fakeCAAPI{}).handler(), append([]string{"ca", "rotate"}, r.args...)...)
		if err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("weft ca rotate %v = %v, want an error containing %q", r.args, err, r.want)
		}
	}
	bad := &fakeCAAPI{refuse: "invalid CA: /pki/ca-key.pem is open to group or others (mode -rw-r--r--)"}
	if _, _, err := runWeft(t, bad.handler(), "ca", "rotate", "--builtin"); err == nil || !strings.Contains(err.Error(), "/pki/ca-key.pem is open") {
		t.Errorf("a refused rotation = %v, want weftd's message", err)
	}
}
