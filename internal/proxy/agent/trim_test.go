package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHeap counts allocations and trims for a memoryTrim, and says how much heap is free.
type fakeHeap struct {
	allocs, free atomic.Uint64
	trims        chan struct{}
}

func newTrimmer() (*memoryTrim, *fakeHeap) {
	h := &fakeHeap{trims: make(chan struct{}, 16)}
	m := &memoryTrim{
		trim: func() {
			h.free.Store(0) // what a trim does
			h.trims <- struct{}{}
		},
		stats: func() heapStats { return heapStats{allocated: h.allocs.Load(), free: h.free.Load()} },
	}
	return m, h
}

func (h *fakeHeap) trimmed() int { return len(h.trims) }

func TestTrimCheckNeedsEnoughAllocation(t *testing.T) {
	m, h := newTrimmer()
	h.allocs.Store(5 << 20)
	m.init() // the baseline: 5 MiB

	// Idle: little allocated since the last trim, nothing to give back.
	h.allocs.Add(trimAfterAllocs - 1)
	m.check()
	if n := h.trimmed(); n != 0 {
		t.Fatalf("trimmed %d times after %d bytes, want 0", n, trimAfterAllocs-1)
	}
	// Scrapes and renewals add up: the next check trims, once.
	h.allocs.Add(1)
	m.check()
	m.check()
	if n := h.trimmed(); n != 1 {
		t.Fatalf("trimmed %d times after %d bytes, want 1", n, trimAfterAllocs)
	}
	// The trim moved the baseline: allocation before it does not count again.
	h.allocs.Add(trimAfterAllocs / 2)
	m.check()
	if n := h.trimmed(); n != 1 {
		t.Fatalf("trimmed %d times, want still 1", n)
	}
}

// Under traffic the proxy keeps its memory: it will need it again. The first quiet check
// after the burst trims.
func TestTrimWaitsForTheEndOfABurst(t *testing.T) {
	m, h := newTrimmer()
	m.init()
	h.allocs.Add(busyAllocs) // a busy interval
	m.check()
	h.allocs.Add(2 * busyAllocs) // and another
	m.check()
	if n := h.trimmed(); n != 0 {
		t.Fatalf("trimmed %d times while busy, want 0", n)
	}
	h.allocs.Add(busyAllocs - 1) // quiet enough
	m.check()
	if n := h.trimmed(); n != 1 {
		t.Fatalf("trimmed %d times after the burst, want 1", n)
	}
}

// After a burst, the connections it opened time out and leave free heap, with little allocated:
// a quiet check gives it back.
func TestTrimGivesBackFreeHeap(t *testing.T) {
	m, h := newTrimmer()
	m.init()
	h.free.Store(trimAfterFree - 1)
	m.check()
	if n := h.trimmed(); n != 0 {
		t.Fatalf("trimmed %d times with %d bytes free, want 0", n, trimAfterFree-1)
	}
	h.free.Store(3 * trimAfterFree)
	m.check()
	m.check()
	if n := h.trimmed(); n != 1 {
		t.Fatalf("trimmed %d times with 3 MiB free, want 1", n)
	}
}

func TestTrimRunChecksPeriodically(t *testing.T) {
	m, h := newTrimmer()
	m.init() // the baseline, before run starts
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.run(ctx, time.Millisecond) })
	defer func() { cancel(); wg.Wait() }()

	h.allocs.Add(2 * trimAfterAllocs)
	select {
	case <-h.trims:
	case <-time.After(10 * time.Second):
		t.Fatal("no trim within 10s of allocating past the threshold")
	}
}

func TestTouchTrimsAfterTheLastUpdate(t *testing.T) {
	m, h := newTrimmer()
	for range 3 {
		m.touch() // a burst of updates
	}
	select {
	case <-h.trims:
	case <-time.After(10 * time.Second):
		t.Fatal("no trim after a burst of updates")
	}
	if n := h.trimmed(); n != 0 {
		t.Errorf("a burst of 3 updates trimmed %d more times, want 1 in all", n)
	}
}
