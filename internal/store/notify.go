package store

import "sync"

// Notifier fans change signals out to subscribers. Each subscriber has a channel with a buffer
// of one: signals that arrive while one is pending are coalesced, and Notify never blocks.
// The zero value is ready to use.
type Notifier struct {
	mu   sync.Mutex
	next int
	subs map[int]chan struct{}
}

// Subscribe returns a channel that receives a value after each Notify (coalesced) and a
// function that ends the subscription and closes the channel.
func (n *Notifier) Subscribe() (<-chan struct{}, func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subs == nil {
		n.subs = map[int]chan struct{}{}
	}
	id := n.next
	n.next++
	ch := make(chan struct{}, 1)
	n.subs[id] = ch
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			delete(n.subs, id)
			close(ch)
		})
	}
}

// Notify signals every subscriber.
func (n *Notifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
