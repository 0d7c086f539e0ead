package wasm

import (
	"sync"
	"sync/atomic"
	"time"
)

// Breaker states.
const (
	stateClosed   int32 = iota // healthy: calls go through
	stateOpen                  // unhealthy: calls fail fast until retryAt
	stateHalfOpen              // one trial call is allowed; its outcome decides
)

// outcome of a call as the breaker sees it.
type outcome uint8

const (
	outcomeOK      outcome = iota // includes non-OK statuses: the plugin answered
	outcomeFault                  // trap, deadline, memory limit, bad output...
	outcomeNeutral                // nothing learned (pool exhausted, caller canceled)
)

// breaker trips after `threshold` faults within `window`: the plugin is reported
// unhealthy and calls fail fast for `cooldown`, after which one trial call is let
// through (half-open). The state is read atomically so a healthy plugin's calls take
// no lock.
type breaker struct {
	threshold int // <= 0 disables the breaker
	window    time.Duration
	cooldown  time.Duration
	now       func() time.Time

	state atomic.Int32

	mu        sync.Mutex
	faults    []time.Time // ring of the last `threshold` fault times
	next      int
	retryAt   time.Time
	trial     bool // a half-open trial call is in flight
	openedAt  time.Time
	lastFault string
	lastClass string
}

func newBreaker(threshold int, window, cooldown time.Duration) *breaker {
	b := &breaker{threshold: threshold, window: window, cooldown: cooldown, now: time.Now}
	if threshold > 0 {
		b.faults = make([]time.Time, threshold)
	}
	return b
}

// allow reports whether a call may proceed; false means fail fast.
func (b *breaker) allow() bool {
	if b.state.Load() == stateClosed {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state.Load() {
	case stateClosed:
		return true
	case stateOpen:
		if b.now().Before(b.retryAt) {
			return false
		}
		b.state.Store(stateHalfOpen)
		b.trial = true
		return true
	default: // half-open: one trial at a time
		if b.trial {
			return false
		}
		b.trial = true
		return true
	}
}

// record feeds a call's outcome back. class and msg describe a fault.
func (b *breaker) record(o outcome, class, msg string) {
	if b.threshold <= 0 {
		if o == outcomeFault {
			b.mu.Lock()
			b.lastFault, b.lastClass = msg, class
			b.mu.Unlock()
		}
		return
	}
	if o == outcomeOK && b.state.Load() == stateClosed {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	switch o {
	case outcomeFault:
		b.lastFault, b.lastClass = msg, class
		switch b.state.Load() {
		case stateHalfOpen:
			b.trip(now)
		case stateClosed:
			b.faults[b.next] = now
			b.next = (b.next + 1) % len(b.faults)
			// The oldest of the last `threshold` faults is inside the window: trip.
			if oldest := b.faults[b.next]; !oldest.IsZero() && now.Sub(oldest) <= b.window {
				b.trip(now)
			}
		}
	case outcomeOK:
		if b.state.Load() == stateHalfOpen {
			b.state.Store(stateClosed)
			b.trial = false
			clear(b.faults)
		}
	case outcomeNeutral:
		if b.state.Load() == stateHalfOpen {
			b.trial = false // let another call try
		}
	}
}

func (b *breaker) trip(now time.Time) {
	b.state.Store(stateOpen)
	b.trial = false
	b.openedAt = now
	b.retryAt = now.Add(b.cooldown)
	clear(b.faults)
}

// breakerStatus is a snapshot for health reports.
type breakerStatus struct {
	State     string
	Since     time.Time
	RetryAt   time.Time
	LastFault string
	LastClass string
	Recent    int // faults inside the window
}

func (b *breaker) status() breakerStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := breakerStatus{LastFault: b.lastFault, LastClass: b.lastClass}
	switch b.state.Load() {
	case stateClosed:
		s.State = "healthy"
	case stateOpen:
		s.State, s.Since, s.RetryAt = "unhealthy", b.openedAt, b.retryAt
	default:
		s.State, s.Since = "recovering", b.openedAt
	}
	now := b.now()
	for _, t := range b.faults {
		if !t.IsZero() && now.Sub(t) <= b.window {
			s.Recent++
		}
	}
	return s
}
