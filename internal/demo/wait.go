package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// pollInterval is how often the demo checks whether what it waits for is ready.
const pollInterval = 100 * time.Millisecond

// notReady says which process is not ready yet, and why.
type notReady struct {
	who    *child
	reason string
}

func (e *notReady) Error() string { return e.who.Name + ": " + e.reason }

// waitUntil calls check until it returns nil, and fails when timeout passes (naming the
// process check last blamed, with the tail of its log), when ctx is done, or as soon as any
// child exits.
func waitUntil(ctx context.Context, what string, timeout time.Duration, exited <-chan *child, check func(context.Context) error) error {
	deadline, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var err error
	for {
		switch e := check(deadline); {
		case e == nil:
			return nil
		case err == nil || deadline.Err() == nil:
			// A check cut short by the deadline says less than the one before it.
			err = e
		}
		select {
		case c := <-exited:
			return fmt.Errorf("waiting for %s: %w\n%s", what, c.exitError(), c.tail())
		case <-deadline.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var nr *notReady
			if errors.As(err, &nr) {
				return fmt.Errorf("waiting for %s: %s is not ready after %s: %s\n%s", what, nr.who.Name, timeout, nr.reason, nr.who.tail())
			}
			return fmt.Errorf("waiting for %s: not ready after %s: %w", what, timeout, err)
		case <-ticker.C:
		}
	}
}

// prober makes the HTTP checks of readiness.
type prober struct {
	client *http.Client
}

func newProber() *prober {
	return &prober{client: &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}}
}

// get returns nil when url answers 200, else a notReady blaming who, with the status and the
// start of the body.
func (p *prober) get(ctx context.Context, who *child, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probing %s: %w", url, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return &notReady{who: who, reason: fmt.Sprintf("GET %s: %v", url, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode != http.StatusOK {
		return &notReady{who: who, reason: fmt.Sprintf("GET %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))}
	}
	return nil
}
