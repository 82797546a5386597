package agent

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// trimDelay is how long the configuration must stay unchanged before the proxy hands the
// garbage of applying it back to the OS.
const trimDelay = time.Second

// Between configuration changes, the proxy checks every trimInterval whether it allocated at
// least trimAfterAllocs since the last trim, and trims if so, unless it is busy: it allocated
// busyAllocs or more during the last interval (traffic, not renewals and scrapes), and will
// need the memory again. The first quiet interval after a burst trims what the burst left.
const (
	trimInterval    = 30 * time.Second
	trimAfterAllocs = 1 << 20
	busyAllocs      = 8 << 20
)

// memoryTrim hands freed memory back to the OS, so that an idle sidecar stays at the size of
// what it holds, not of what it once allocated.
//
// Start-up and each xDS update (decoding, building the new runtime config) leave garbage: a
// burst of updates costs one trim, trimDelay after its last update. Between updates, lease
// renewals and metric scrapes leave some garbage at every turn; the Go runtime would let the
// heap grow to twice what is live before collecting it, and return the pages only slowly: an
// idle proxy scraped every 15 s would settle 3 MiB above its size after start. The periodic
// check trims once enough has been allocated: one collection of a small heap (a millisecond
// or two) per trimInterval at most.
type memoryTrim struct {
	mu    sync.Mutex
	timer *time.Timer

	// trim and allocated are the runtime's, replaced by tests.
	trim      func()
	allocated func() uint64
	// last is allocated() after the last trim, or when the first check was set up; tick is
	// allocated() at the last check.
	last, tick uint64
	inited     bool
}

// init fills in the runtime's functions and takes the first baseline. Called with m.mu held.
func (m *memoryTrim) init() {
	if m.inited {
		return
	}
	m.inited = true
	if m.trim == nil {
		m.trim = debug.FreeOSMemory
	}
	if m.allocated == nil {
		m.allocated = heapAllocated
	}
	m.last = m.allocated()
	m.tick = m.last
}

// touch (re)starts the countdown to the next trim.
func (m *memoryTrim) touch() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if m.timer == nil {
		m.timer = time.AfterFunc(trimDelay, m.trimNow)
		return
	}
	m.timer.Reset(trimDelay)
}

// run checks every interval whether to trim, until ctx is done.
func (m *memoryTrim) run(ctx context.Context, interval time.Duration) {
	m.mu.Lock()
	m.init()
	m.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.check()
		}
	}
}

// check trims if at least trimAfterAllocs were allocated since the last trim, and less than
// busyAllocs since the last check.
func (m *memoryTrim) check() {
	m.mu.Lock()
	now := m.allocated()
	due := now-m.last >= trimAfterAllocs && now-m.tick < busyAllocs
	m.tick = now
	m.mu.Unlock()
	if due {
		m.trimNow()
	}
}

func (m *memoryTrim) trimNow() {
	m.trim()
	m.mu.Lock()
	m.last = m.allocated()
	m.mu.Unlock()
}

// heapAllocated is the number of bytes allocated on the heap since the process started.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
