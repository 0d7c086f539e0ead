// Package hosttest helps tests of the Wasm host and the conformance suite: it builds
// the fixture plugins of conformance/fixtures and runs soak tests that hammer plugins
// from many goroutines while checking that calls stay within their deadline and no
// goroutine leaks.
package hosttest

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/internal/fixturebuild"
)

// Fixtures lists the fixture plugins in conformance/fixtures.
var Fixtures = fixturebuild.Fixtures

// RepoRoot finds the repository root from the working directory upwards.
func RepoRoot() (string, error) { return fixturebuild.RepoRoot() }

// BuildFixtures builds every fixture that is missing or older than its sources into
// <root>/build/fixtures (or $LARDER_FIXTURES_DIR when set) and returns the directory.
// It runs once per process.
func BuildFixtures() (string, error) { return fixturebuild.BuildFixtures() }

// SoakOptions configure Soak.
type SoakOptions struct {
	Callers  int           // concurrent callers [8]
	Duration time.Duration // how long to hammer [2 s]
	// Deadline is the per-call deadline the plugins were loaded with; each call must
	// return within Deadline+Slack [Slack 50 ms].
	Deadline time.Duration
	Slack    time.Duration
	// Calls are invoked round-robin by each caller; each is one plugin call.
	Calls []func(ctx context.Context) error
	// Bounds, when set, overrides Deadline+Slack for the call with the same index (0
	// keeps the default): for example a machine-stack recursion bomb, which wazero does
	// not interrupt while it grows the stack to its fixed ceiling.
	Bounds []time.Duration
	// Cleanup runs after the callers stop and before goroutines are counted (close the
	// plugins here).
	Cleanup func() error
	// Baseline is the goroutine count to return to after Cleanup, typically taken
	// before the plugins were loaded; 0 = the count when Soak starts.
	Baseline int
}

// SoakReport is what a soak run saw.
type SoakReport struct {
	Calls      int
	Classes    map[string]int // fault class -> count ("" = success)
	MaxLatency time.Duration
	Late       int // calls that took longer than Deadline+Slack
	// Latency holds every call's duration per class, sorted, for Overshoot.
	Latency      map[string][]time.Duration
	GoroutinesAt struct{ Start, End int }
	Problems     []string
}

func (r SoakReport) String() string {
	keys := make([]string, 0, len(r.Classes))
	for k := range r.Classes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = "ok"
		}
		parts[i] = fmt.Sprintf("%s=%d", name, r.Classes[k])
	}
	return fmt.Sprintf("%d calls (%s), max latency %v, %d late, goroutines %d -> %d",
		r.Calls, strings.Join(parts, " "), r.MaxLatency, r.Late, r.GoroutinesAt.Start, r.GoroutinesAt.End)
}

// Overshoot renders, per class, the median, 99th percentile and maximum of how long
// calls took past deadline (negative: before it).
func (r SoakReport) Overshoot(deadline time.Duration) string {
	keys := make([]string, 0, len(r.Latency))
	for k := range r.Latency {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		d := r.Latency[k]
		name := k
		if name == "" {
			name = "ok"
		}
		over := func(x time.Duration) string { return (x - deadline).Round(100 * time.Microsecond).String() }
		fmt.Fprintf(&b, "%s: %d calls, overshoot p50 %s p99 %s max %s\n", name, len(d),
			over(d[len(d)/2]), over(d[len(d)*99/100]), over(d[len(d)-1]))
	}
	return b.String()
}

// Soak hammers the calls from Callers goroutines for Duration. It reports a problem
// for every late call and for goroutines left over after Cleanup (it waits up to 5 s
// for them to settle). The caller decides what fails a test.
func Soak(ctx context.Context, o SoakOptions) SoakReport {
	if o.Callers <= 0 {
		o.Callers = 8
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.Slack <= 0 {
		o.Slack = 50 * time.Millisecond
	}
	rep := SoakReport{Classes: map[string]int{}, Latency: map[string][]time.Duration{}}
	rep.GoroutinesAt.Start = runtime.NumGoroutine()
	if o.Baseline > 0 {
		rep.GoroutinesAt.Start = o.Baseline
	}
	stop := time.Now().Add(o.Duration)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := 0; c < o.Callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; time.Now().Before(stop) && ctx.Err() == nil; i++ {
				call := o.Calls[i%len(o.Calls)]
				start := time.Now()
				err := call(ctx)
				took := time.Since(start)
				class := host.FaultClass(err)
				mu.Lock()
				rep.Calls++
				rep.Classes[class]++
				rep.Latency[class] = append(rep.Latency[class], took)
				if took > rep.MaxLatency {
					rep.MaxLatency = took
				}
				bound := o.Deadline + o.Slack
				if k := i % len(o.Calls); k < len(o.Bounds) && o.Bounds[k] > 0 {
					bound = o.Bounds[k]
				}
				if o.Deadline > 0 && took > bound {
					rep.Late++
					if len(rep.Problems) < 20 {
						rep.Problems = append(rep.Problems, fmt.Sprintf("call %d took %v (bound %v): %v",
							i%len(o.Calls), took, bound, err))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, d := range rep.Latency {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	}
	if o.Cleanup != nil {
		if err := o.Cleanup(); err != nil {
			rep.Problems = append(rep.Problems, "cleanup: "+err.Error())
		}
	}
	settle := time.Now().Add(5 * time.Second)
	for {
		rep.GoroutinesAt.End = runtime.NumGoroutine()
		if rep.GoroutinesAt.End <= rep.GoroutinesAt.Start || time.Now().After(settle) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rep.GoroutinesAt.End > rep.GoroutinesAt.Start {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		rep.Problems = append(rep.Problems, fmt.Sprintf("goroutines leaked: %d before, %d after\n%s",
			rep.GoroutinesAt.Start, rep.GoroutinesAt.End, buf[:n]))
	}
	return rep
}
