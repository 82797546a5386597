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

// Between configuration changes, the proxy checks every trimInterval whether to trim: when it
// allocated at least trimAfterAllocs since the last trim, or holds at least trimAfterFree of
// free heap the OS could have back. Not while it is busy, though: when it allocated busyAllocs
// or more during the last interval (traffic, not renewals and scrapes), it will need the
// memory again.
const (
	trimInterval    = 30 * time.Second
	trimAfterAllocs = 1 << 20
	trimAfterFree   = 1 << 20
	busyAllocs      = 8 << 20
)

// heapStats is what the trim decision reads of the Go heap.
type heapStats struct {
	// allocated is the number of bytes allocated since the process started.
	allocated uint64
	// free is the size of the free heap spans not yet returned to the OS.
	free uint64
}

// memoryTrim hands freed memory back to the OS, so that an idle sidecar stays at the size of
// what it holds, not of what it once allocated.
//
// Start-up and each xDS update (decoding, building the new runtime config) leave garbage: a
// burst of updates costs one trim, trimDelay after its last update. Between updates:
//   - lease renewals and metric scrapes leave some garbage at every turn. The Go runtime would
//     let the heap grow to twice what is live before collecting it, and return the pages only
//     slowly: scraped every second, a proxy grew by 3 MiB in a minute;
//   - after a burst of traffic, the connections it opened time out and their buffers become
//     free heap, which the runtime keeps.
//
// The periodic check trims in both cases: one collection of a small heap (a millisecond or two)
// per trimInterval at most.
type memoryTrim struct {
	mu    sync.Mutex
	timer *time.Timer

	// trim and stats are the runtime's, replaced by tests.
	trim  func()
	stats func() heapStats
	// last is stats().allocated after the last trim, or when the checks were set up; tick is
	// stats().allocated at the last check.
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
	if m.stats == nil {
		m.stats = readHeapStats
	}
	m.last = m.stats().allocated
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

// check trims when the proxy is quiet and there is something to give back.
func (m *memoryTrim) check() {
	m.mu.Lock()
	s := m.stats()
	quiet := s.allocated-m.tick < busyAllocs
	due := quiet && (s.allocated-m.last >= trimAfterAllocs || s.free >= trimAfterFree)
	m.tick = s.allocated
	m.mu.Unlock()
	if due {
		m.trimNow()
	}
}

func (m *memoryTrim) trimNow() {
	m.trim()
	m.mu.Lock()
	m.last = m.stats().allocated
	m.mu.Unlock()
}

// readHeapStats reads the runtime's counters.
func readHeapStats() heapStats {
	s := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(s)
	return heapStats{allocated: s[0].Value.Uint64(), free: s[1].Value.Uint64()}
}
