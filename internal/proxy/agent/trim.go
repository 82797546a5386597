package agent

import (
	"runtime/debug"
	"sync"
	"time"
)

// trimDelay is how long the configuration must stay unchanged before the proxy hands the
// garbage of applying it back to the OS.
const trimDelay = time.Second

// memoryTrim returns freed memory to the OS once a burst of configuration changes is over.
// Start-up and each xDS update (decoding, building the new runtime config) leave garbage that
// the Go runtime would return only slowly: an idle sidecar should not keep it. A burst of
// updates costs one trim, trimDelay after its last update.
type memoryTrim struct {
	mu    sync.Mutex
	timer *time.Timer
}

// touch (re)starts the countdown to the next trim.
func (m *memoryTrim) touch() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer == nil {
		m.timer = time.AfterFunc(trimDelay, debug.FreeOSMemory)
		return
	}
	m.timer.Reset(trimDelay)
}
