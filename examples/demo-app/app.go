package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// maxDelay bounds the ?delay= a request may ask for.
const maxDelay = 10 * time.Second

// answer is the JSON body of GET /.
type answer struct {
	Service string            `json:"service"`
	Version string            `json:"version"`
	Calls   []json.RawMessage `json:"calls"`
	Error   string            `json:"error,omitempty"`
}

// health is the JSON body of GET /healthz.
type health struct {
	Status   string `json:"status"`
	InFlight int64  `json:"inFlight"` // requests being served now
	Requests int64  `json:"requests"` // requests served since start (not counting /healthz)
}

// app serves GET /healthz and, on every other path, the demo answer.
type app struct {
	cfg      config
	client   *http.Client
	inFlight atomic.Int64
	requests atomic.Int64
}

func newApp(cfg config) http.Handler {
	a := &app{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", a.serveRoot)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(health{Status: "ok", InFlight: a.inFlight.Load(), Requests: a.requests.Load()})
	})
	return mux
}

// serveRoot calls every downstream in turn and answers with what they said. A ?delay=500ms
// query (at most 10s) makes it wait that long first, to show slow requests and draining.
func (a *app) serveRoot(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	if d := r.URL.Query().Get("delay"); d != "" {
		delay, err := time.ParseDuration(d)
		if err != nil || delay < 0 || delay > maxDelay {
			http.Error(w, fmt.Sprintf("delay %q: want a duration between 0 and %s", d, maxDelay), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	out := answer{Service: a.cfg.Name, Version: a.cfg.Version, Calls: []json.RawMessage{}}
	status := http.StatusOK
	for _, url := range a.cfg.Calls {
		body, err := a.call(r.Context(), url)
		if err != nil {
			out.Error = err.Error()
			status = http.StatusBadGateway
			break
		}
		out.Calls = append(out.Calls, body)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

// call GETs one downstream and returns its JSON answer. Any failure names the downstream.
func (a *app) call(ctx context.Context, url string) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("calling %s: %w", url, err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("calling %s: reading the answer: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("calling %s: answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("calling %s: the answer is not JSON: %.100q", url, body)
	}
	return json.RawMessage(body), nil
}
