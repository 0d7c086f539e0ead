package wasm

import (
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBreaker(3, 10*time.Second, 5*time.Second)
	b.now = func() time.Time { return now }
	fault := func() { b.record(outcomeFault, "trap", "boom") }
	step := func(d time.Duration) { now = now.Add(d) }

	// Faults spread wider than the window never trip it.
	for i := 0; i < 6; i++ {
		if !b.allow() {
			t.Fatalf("call %d refused while healthy", i)
		}
		fault()
		step(6 * time.Second)
	}
	if st := b.status(); st.State != "healthy" {
		t.Fatalf("state %s after spread-out faults", st.State)
	}
	// Three faults within the window trip it.
	fault()
	step(time.Second)
	fault()
	b.record(outcomeOK, "", "") // successes in between do not reset the count
	step(time.Second)
	fault()
	if st := b.status(); st.State != "unhealthy" || st.LastFault != "boom" || st.LastClass != "trap" {
		t.Fatalf("status %+v, want unhealthy", st)
	}
	if b.allow() {
		t.Fatal("open breaker let a call through")
	}
	step(5 * time.Second)
	// Half-open: exactly one trial.
	if !b.allow() {
		t.Fatal("no trial after the cooldown")
	}
	if b.allow() {
		t.Fatal("a second call went through during the trial")
	}
	// A neutral outcome (pool exhausted, caller canceled) lets another call try.
	b.record(outcomeNeutral, "", "")
	if !b.allow() {
		t.Fatal("no new trial after a neutral outcome")
	}
	fault() // the trial faults: open again
	if b.allow() {
		t.Fatal("breaker not reopened by a failed trial")
	}
	step(5 * time.Second)
	if !b.allow() {
		t.Fatal("no trial after the second cooldown")
	}
	b.record(outcomeOK, "", "")
	if st := b.status(); st.State != "healthy" || st.Recent != 0 {
		t.Fatalf("status %+v after a good trial, want healthy with no recent faults", st)
	}
	// After closing, it takes the full threshold again.
	fault()
	fault()
	if !b.allow() {
		t.Fatal("tripped with two faults after recovering")
	}
}

func TestBreakerDisabled(t *testing.T) {
	b := newBreaker(-1, time.Second, time.Second)
	for i := 0; i < 100; i++ {
		b.record(outcomeFault, "trap", "x")
		if !b.allow() {
			t.Fatal("disabled breaker refused a call")
		}
	}
	if st := b.status(); st.State != "healthy" || st.LastClass != "trap" {
		t.Fatalf("status %+v", st)
	}
}
