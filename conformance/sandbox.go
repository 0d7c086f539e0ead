package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/feast"
)

// Fixture is a hostile plugin and the fault class the host must report for it.
type Fixture struct {
	Name        string `json:"name"`
	File        string `json:"file,omitempty"` // default Name + ".wasm"
	Expect      string `json:"expect"`         // host.FaultClass the fixture must produce
	Description string `json:"description"`
	// Config is the fixture's larder_init object; nil = {}.
	Config json.RawMessage `json:"config,omitempty"`
	// DeadlineMS overrides SandboxOptions.CallDeadline for a fixture whose fault needs
	// more time to arrive.
	DeadlineMS int `json:"deadline_ms,omitempty"`
}

func (f Fixture) deadline(def time.Duration) time.Duration {
	if f.DeadlineMS > 0 {
		return time.Duration(f.DeadlineMS) * time.Millisecond
	}
	return def
}

func (f Fixture) file() string {
	if f.File != "" {
		return f.File
	}
	return f.Name + ".wasm"
}

// loadTime reports whether the class is decided when the module is loaded rather than
// when it is called.
func loadTime(class string) bool {
	switch class {
	case "abi_version", "missing_export", "bad_module", "bad_manifest", "digest_mismatch":
		return true
	}
	return false
}

// LoadFixtures returns the embedded table of hostile fixtures (cases/sandbox.json).
func LoadFixtures() ([]Fixture, error) {
	raw, err := caseFS.ReadFile("cases/sandbox.json")
	if err != nil {
		return nil, fmt.Errorf("reading the sandbox fixture table: %w", err)
	}
	var f struct {
		Fixtures []Fixture `json:"fixtures"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("parsing cases/sandbox.json: %w", err)
	}
	for _, fx := range f.Fixtures {
		if fx.Name == "" || fx.Expect == "" {
			return nil, fmt.Errorf("cases/sandbox.json: fixture %+v needs name and expect", fx)
		}
	}
	return f.Fixtures, nil
}

// SandboxOptions configures the hostile-fixture cases and the soak check.
type SandboxOptions struct {
	// FixtureDir holds <fixture>.wasm files (build/fixtures).
	FixtureDir string
	// Fixtures to run; nil = the embedded table (cases/sandbox.json).
	Fixtures []Fixture
	// Load loads a hostile module (with its larder_init config) with every call bounded
	// by deadline; nil = LoadFixture.
	Load func(ctx context.Context, path string, config json.RawMessage, deadline time.Duration) (host.OnlineStore, error)
	// Healthy is a well-behaved store in the same process; it is probed before and after
	// every hostile call and must keep serving. Open is called once with a temp dir.
	Healthy Target
	// CallDeadline is the per-call deadline Load configures (default 500ms; a fixture may
	// override it with deadline_ms): a call may
	// not return later than CallDeadline + Slack.
	CallDeadline time.Duration
	// Slack is the allowed lateness past the deadline (default 50ms).
	Slack time.Duration
	// Soak runs SoakCallers goroutines against the call-time fixtures for this long; 0 = no soak.
	Soak        time.Duration
	SoakCallers int // default 8
	// TempDir is the parent of temp directories; "" = os.TempDir().
	TempDir string
}

func (o *SandboxOptions) defaults() {
	if o.CallDeadline <= 0 {
		o.CallDeadline = DefaultFixtureDeadline
	}
	if o.Slack <= 0 {
		o.Slack = 50 * time.Millisecond
	}
	if o.SoakCallers <= 0 {
		o.SoakCallers = 8
	}
	if o.Load == nil {
		o.Load = LoadFixture
	}
}

// sandboxProject and probeView are where the healthy store is probed.
const (
	sandboxProject = "conformance_sandbox"
	probeView      = "probe"
)

// probe is the healthy store, written and read back between hostile calls.
type probe struct {
	store host.OnlineStore
	n     atomic.Int64
}

func openProbe(ctx context.Context, t Target, dir string) (*probe, error) {
	s, err := t.Open(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("opening the healthy store %s: %w", t.Name, err)
	}
	err = s.Update(ctx, host.UpdateRequest{Project: sandboxProject, TablesToKeep: []host.Table{{Name: probeView, Features: []string{"v"}, JoinKeys: []string{"id"}}}, TablesToDelete: []host.Table{}})
	if err != nil {
		s.Close(ctx)
		return nil, fmt.Errorf("healthy store %s: update: %w", t.Name, err)
	}
	return &probe{store: s}, nil
}

// check writes a fresh value and reads it back.
func (p *probe) check(ctx context.Context) error {
	n := p.n.Add(1)
	key, _ := feast.SerializeEntityKey([]string{"id"}, []feast.Value{feast.Int64Value(n % 64)}, 3)
	val, _ := feast.MarshalValue(feast.Int64Value(n))
	ts := time.Unix(1_700_000_000+n, 0).UTC()
	err := p.store.Write(ctx, host.WriteRequest{Project: sandboxProject, View: probeView, Features: []string{"v"},
		Rows: []host.WriteRow{{EntityKey: key, EventTS: ts, Values: [][]byte{val}}}})
	if err != nil {
		return fmt.Errorf("healthy store write failed [%s]: %w", faultClass(err), err)
	}
	res, err := p.store.Read(ctx, host.ReadRequest{Project: sandboxProject, Views: []host.ReadView{{Name: probeView, Features: []string{"v"}, EntityKeys: [][]byte{key}}}})
	if err != nil {
		return fmt.Errorf("healthy store read failed [%s]: %w", faultClass(err), err)
	}
	if len(res.Views) != 1 || len(res.Views[0]) != 1 || len(res.Views[0][0].Value) == 0 {
		return fmt.Errorf("healthy store read returned %v, want one value", res.Views)
	}
	// Concurrent probes share 64 keys, so only "some probe's value" is checkable here.
	if _, err := feast.UnmarshalValue(res.Views[0][0].Value); err != nil {
		return fmt.Errorf("healthy store returned an undecodable value: %w", err)
	}
	return nil
}

// call is one hostile call: which op, how long it took, what it returned.
type call struct {
	op      string
	class   string
	err     error
	elapsed time.Duration
}

// hostileOps are the calls made on a loaded fixture, in order: each gives the fixture a
// chance to misbehave in its own export.
var hostileOps = []string{"update", "write", "read"}

func doOp(ctx context.Context, s host.OnlineStore, op string) call {
	key, _ := feast.SerializeEntityKey([]string{"id"}, []feast.Value{feast.Int64Value(1)}, 3)
	val, _ := feast.MarshalValue(feast.Int64Value(1))
	start := time.Now()
	var err error
	switch op {
	case "update":
		err = s.Update(ctx, host.UpdateRequest{Project: sandboxProject, TablesToKeep: []host.Table{{Name: "fv", Features: []string{"v"}, JoinKeys: []string{"id"}}}, TablesToDelete: []host.Table{}})
	case "write":
		err = s.Write(ctx, host.WriteRequest{Project: sandboxProject, View: "fv", Features: []string{"v"},
			Rows: []host.WriteRow{{EntityKey: key, EventTS: time.Unix(1_700_000_000, 0), Values: [][]byte{val}}}})
	case "read":
		_, err = s.Read(ctx, host.ReadRequest{Project: sandboxProject, Views: []host.ReadView{{Name: "fv", Features: []string{"v"}, EntityKeys: [][]byte{key}}}})
	}
	return call{op: op, class: faultClass(err), err: err, elapsed: time.Since(start)}
}

// sandboxRun holds what every fixture case shares.
type sandboxRun struct {
	opts  SandboxOptions
	probe *probe
}

// fixtureCase runs one fixture: load it, call it until it faults, check the class, check
// the fault is repeatable (a fresh instance faults the same way, or the plugin is reported
// unhealthy), check no call overran its deadline, and probe the healthy store in between.
func (sr *sandboxRun) fixtureCase(ctx context.Context, fx Fixture) (res CaseResult) {
	res = CaseResult{Suite: "sandbox", Group: "fixtures", Name: fx.Name, Expected: fx.Expect}
	start := time.Now()
	defer func() { res.Duration = ms(time.Since(start)) }()
	fail := func(format string, args ...any) CaseResult {
		res.Status, res.Message = Fail, fmt.Sprintf(format, args...)
		return res
	}
	path := filepath.Join(sr.opts.FixtureDir, fx.file())
	if _, err := os.Stat(path); err != nil {
		return fail("fixture module missing: %v", err)
	}
	if sr.probe != nil {
		if err := sr.probe.check(ctx); err != nil {
			return fail("before loading %s: %v", fx.Name, err)
		}
	}
	deadline := fx.deadline(sr.opts.CallDeadline)
	store, err := sr.opts.Load(ctx, path, fx.Config, deadline)
	if err != nil {
		res.Class = faultClass(err)
		if res.Class != fx.Expect {
			return fail("loading failed with %s, want %s: %v", orNone(res.Class), fx.Expect, err)
		}
		res.Message = firstLine(err.Error())
	} else {
		defer store.Close(context.WithoutCancel(ctx))
		if loadTime(fx.Expect) {
			return fail("module loaded, want the load refused with %s", fx.Expect)
		}
		var trail []string
		var first *call
		for _, op := range hostileOps {
			c := doOp(ctx, store, op)
			trail = append(trail, fmt.Sprintf("%s→%s", op, orOK(c.class)))
			if over := c.elapsed - deadline; over > sr.opts.Slack {
				res.Class = c.class
				return fail("%s: %s took %s, more than the %s deadline + %s", strings.Join(trail, ", "), op, c.elapsed.Round(time.Millisecond), deadline, sr.opts.Slack)
			}
			if sr.probe != nil {
				if err := sr.probe.check(ctx); err != nil {
					return fail("after %s of %s: %v", op, fx.Name, err)
				}
			}
			if c.err != nil {
				first = &c
				break
			}
		}
		if first == nil {
			return fail("no call faulted (%s)", strings.Join(trail, ", "))
		}
		res.Class = first.class
		if first.class != fx.Expect {
			return fail("%s: %v", strings.Join(trail, ", "), first.err)
		}
		// The faulted instance must be gone: calling again meets a fresh instance that
		// faults the same way, or a breaker that reports the plugin unhealthy.
		for i := 0; i < 2; i++ {
			c := doOp(ctx, store, first.op)
			if c.class != fx.Expect && c.class != "unhealthy" {
				return fail("repeat %d of %s gave %s, want %s again (or unhealthy): %v", i+1, first.op, orNone(c.class), fx.Expect, c.err)
			}
			if over := c.elapsed - deadline; over > sr.opts.Slack {
				return fail("repeat %d of %s took %s, more than the %s deadline + %s", i+1, first.op, c.elapsed.Round(time.Millisecond), deadline, sr.opts.Slack)
			}
		}
		res.Message = strings.Join(trail, ", ") + ": " + firstLine(first.err.Error())
	}
	if sr.probe != nil {
		if err := sr.probe.check(ctx); err != nil {
			return fail("after %s: %v", fx.Name, err)
		}
	}
	res.Status = Pass
	return res
}

func orOK(class string) string {
	if class == "" {
		return "ok"
	}
	return class
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// runSandbox runs every fixture case, then the soak; results go to emit.
func runSandbox(ctx context.Context, o SandboxOptions, emit func(CaseResult)) *SoakResult {
	o.defaults()
	fixtures := o.Fixtures
	if fixtures == nil {
		var err error
		if fixtures, err = LoadFixtures(); err != nil {
			emit(CaseResult{Suite: "sandbox", Group: "fixtures", Name: "load", Status: Fail, Message: err.Error()})
			return nil
		}
	}
	sr := &sandboxRun{opts: o}
	if o.Healthy.Open != nil {
		dir, err := os.MkdirTemp(o.TempDir, "larder-sandbox-")
		if err != nil {
			emit(CaseResult{Suite: "sandbox", Group: "fixtures", Name: "healthy", Status: Fail, Message: err.Error()})
			return nil
		}
		defer os.RemoveAll(dir)
		p, err := openProbe(ctx, o.Healthy, dir)
		if err != nil {
			emit(CaseResult{Suite: "sandbox", Group: "fixtures", Name: "healthy", Status: Fail, Message: err.Error()})
			return nil
		}
		defer p.store.Close(context.WithoutCancel(ctx))
		sr.probe = p
	}
	for _, fx := range fixtures {
		emit(sr.fixtureCase(ctx, fx))
	}
	if o.Soak <= 0 {
		return nil
	}
	return sr.soak(ctx, fixtures)
}

// soak hammers the call-time fixtures from SoakCallers goroutines for Soak, probing the
// healthy store between hostile calls. It fails on a call returning later than its deadline
// + Slack, an unexpected class, a failed probe, or goroutines left behind.
func (sr *sandboxRun) soak(ctx context.Context, fixtures []Fixture) *SoakResult {
	o := sr.opts
	res := &SoakResult{Callers: o.SoakCallers, Classes: map[string]int{},
		Deadline: ms(o.CallDeadline), Slack: ms(o.Slack)}
	var problems []string
	var mu sync.Mutex
	problem := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	settle()
	res.GoroutinesBefore = runtime.NumGoroutine()
	start := time.Now()

	type target struct {
		fx       Fixture
		store    host.OnlineStore
		op       string // the op that faults
		deadline time.Duration
	}
	var targets []target
	for _, fx := range fixtures {
		if loadTime(fx.Expect) {
			continue
		}
		s, err := o.Load(ctx, filepath.Join(o.FixtureDir, fx.file()), fx.Config, fx.deadline(o.CallDeadline))
		if err != nil {
			problem("loading %s for the soak: %v", fx.Name, err)
			continue
		}
		op := ""
		for _, cand := range hostileOps {
			if c := doOp(ctx, s, cand); c.err != nil {
				op = cand
				break
			}
		}
		if op == "" {
			problem("%s: no call faulted", fx.Name)
			s.Close(ctx)
			continue
		}
		targets = append(targets, target{fx: fx, store: s, op: op, deadline: fx.deadline(o.CallDeadline)})
	}
	var (
		calls, healthy atomic.Int64
		maxOver        atomic.Int64 // ns
		maxCall        atomic.Int64 // ns
		worstMu        sync.Mutex
		worst          string
	)
	// One record per call, per caller: no lock on the hot path.
	type sample struct {
		class         string
		elapsed, over time.Duration
		late          bool
	}
	classes := make([]map[string]int, o.SoakCallers)
	samples := make([][]sample, o.SoakCallers)
	deadline := time.Now().Add(o.Soak)
	var wg sync.WaitGroup
	for w := 0; w < o.SoakCallers && len(targets) > 0; w++ {
		classes[w] = map[string]int{}
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				tg := targets[i%len(targets)]
				c := doOp(ctx, tg.store, tg.op)
				calls.Add(1)
				classes[w][c.class]++
				if storeMax(&maxCall, int64(c.elapsed)) {
					worstMu.Lock()
					worst = fmt.Sprintf("%s %s → %s after %s", tg.fx.Name, tg.op, orOK(c.class), c.elapsed.Round(100*time.Microsecond))
					worstMu.Unlock()
				}
				over := c.elapsed - tg.deadline
				storeMax(&maxOver, int64(over))
				late := over > o.Slack
				samples[w] = append(samples[w], sample{class: orOK(c.class), elapsed: c.elapsed, over: over, late: late})
				if late {
					problem("%s %s took %s (deadline %s + %s) → %s", tg.fx.Name, tg.op, c.elapsed.Round(time.Millisecond), tg.deadline, o.Slack, orOK(c.class))
				}
				// Under eight CPU-hungry callers a bomb may run out of time before it
				// runs out of memory: deadline is then the right answer too, and so is
				// pool_exhausted, a caller that got no instance before its deadline
				// (every hostile call discards its instance, and replacements take
				// CPU time). Class precision is the fixture cases' job; the soak checks
				// that every call faults, in time, without taking the host down.
				switch c.class {
				case tg.fx.Expect, "deadline", "unhealthy", "pool_exhausted":
				default:
					problem("%s %s gave %s, want %s (or deadline/pool_exhausted/unhealthy under load): %v", tg.fx.Name, tg.op, orNone(c.class), tg.fx.Expect, c.err)
				}
				if sr.probe != nil && i%4 == 0 {
					if err := sr.probe.check(ctx); err != nil {
						problem("caller %d: %v", w, err)
					}
					healthy.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	for _, tg := range targets {
		if err := tg.store.Close(ctx); err != nil {
			problem("closing %s: %v", tg.fx.Name, err)
		}
	}
	res.DurationMS = ms(time.Since(start))
	res.LoadAverage = loadAverage()
	for _, m := range classes {
		for k, v := range m {
			res.Classes[orOK(k)] += v
		}
	}
	res.Calls, res.HealthyCalls = calls.Load(), healthy.Load()
	var all []time.Duration
	overs := map[string][]time.Duration{}
	lates := map[string]int{}
	for _, ss := range samples {
		for _, x := range ss {
			all = append(all, x.elapsed)
			overs[x.class] = append(overs[x.class], x.over)
			if x.late {
				lates[x.class]++
				res.Late++
			}
		}
	}
	if len(all) > 0 {
		res.P50CallMS, res.P99CallMS, _ = percentiles(all)
	}
	for class, d := range overs {
		p50, p99, mx := percentiles(d)
		res.Overshoot = append(res.Overshoot, ClassTiming{Class: class, Calls: len(d), Late: lates[class], P50MS: p50, P99MS: p99, MaxMS: mx})
	}
	sort.Slice(res.Overshoot, func(i, j int) bool { return res.Overshoot[i].Class < res.Overshoot[j].Class })
	res.MaxOverrunMS = max(0, float64(maxOver.Load())/1e6)
	res.MaxCallMS = float64(maxCall.Load()) / 1e6
	res.SlowestCall = worst
	if sr.probe != nil {
		if err := sr.probe.check(ctx); err != nil {
			problem("after the soak: %v", err)
		}
	}
	// Goroutines of finished calls exit asynchronously; give them a moment before calling
	// it a leak.
	res.GoroutinesAfter = waitGoroutines(res.GoroutinesBefore, 5*time.Second)
	if res.GoroutinesAfter > res.GoroutinesBefore {
		problem("goroutines: %d before the soak, %d after (leak)", res.GoroutinesBefore, res.GoroutinesAfter)
		problem("goroutine stacks:\n%s", goroutineDump())
	}
	if len(targets) == 0 {
		problem("no call-time fixture could be loaded")
	}
	sort.Strings(problems)
	if res.Late > 0 {
		problems = append([]string{fmt.Sprintf("%d of %d calls returned later than their deadline + %s", res.Late, res.Calls, o.Slack)}, problems...)
	}
	res.Problems = problems
	res.Status = Pass
	if len(problems) > 0 {
		res.Status = Fail
	}
	return res
}

// percentiles returns the median, 99th percentile and maximum of d in milliseconds;
// d is sorted in place.
func percentiles(d []time.Duration) (p50, p99, max float64) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return ms(d[len(d)/2]), ms(d[len(d)*99/100]), ms(d[len(d)-1])
}

// loadAverage returns the first three fields of /proc/loadavg, or "" where there is none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// storeMax raises a to v if v is larger, and reports whether it did.
func storeMax(a *atomic.Int64, v int64) bool {
	for {
		cur := a.Load()
		if v <= cur {
			return false
		}
		if a.CompareAndSwap(cur, v) {
			return true
		}
	}
}

func settle() {
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
}

func waitGoroutines(limit int, wait time.Duration) int {
	end := time.Now().Add(wait)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(end) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func goroutineDump() string {
	buf := make([]byte, 1<<16)
	return string(buf[:runtime.Stack(buf, true)])
}

// Sandbox runs the fixture cases and (with opts.Soak) the soak, without a *testing.T.
func Sandbox(ctx context.Context, opts SandboxOptions) Report {
	return Run(ctx, Target{Name: "sandbox fixtures in " + opts.FixtureDir}, Options{Sandbox: &opts})
}

// RunSandbox runs every fixture case as a subtest and the soak (if opts.Soak > 0).
func RunSandbox(t *testing.T, opts SandboxOptions) {
	t.Helper()
	ctx := context.Background()
	soak := runSandbox(ctx, opts, func(c CaseResult) {
		t.Run("fixture/"+c.Name, func(t *testing.T) {
			switch c.Status {
			case Fail:
				t.Fatalf("%s (observed %s, want %s)", c.Message, orNone(c.Class), c.Expected)
			case Skip:
				t.Skip(c.Message)
			default:
				t.Logf("observed %s in %s: %s", c.Class, fmtMS(c.Duration), c.Message)
			}
		})
	})
	if soak != nil {
		t.Run("soak", func(t *testing.T) {
			t.Log(FormatSoak(soak))
			if soak.Status == Fail {
				t.Fatalf("soak failed:\n  %s", strings.Join(soak.Problems, "\n  "))
			}
		})
	}
}

// ExpectFault checks one module against one expected class (the CLI's --expect-fault):
// the same checks as a fixture case.
func ExpectFault(ctx context.Context, path, class string, config json.RawMessage, opts SandboxOptions) CaseResult {
	opts.defaults()
	opts.FixtureDir = filepath.Dir(path)
	sr := &sandboxRun{opts: opts}
	name := strings.TrimSuffix(filepath.Base(path), ".wasm")
	if opts.Healthy.Open != nil {
		dir, err := os.MkdirTemp(opts.TempDir, "larder-sandbox-")
		if err != nil {
			return CaseResult{Suite: "sandbox", Group: "fixtures", Name: name, Expected: class, Status: Fail, Message: err.Error()}
		}
		defer os.RemoveAll(dir)
		p, err := openProbe(ctx, opts.Healthy, dir)
		if err != nil {
			return CaseResult{Suite: "sandbox", Group: "fixtures", Name: name, Expected: class, Status: Fail, Message: err.Error()}
		}
		defer p.store.Close(context.WithoutCancel(ctx))
		sr.probe = p
	}
	return sr.fixtureCase(ctx, Fixture{Name: name, File: filepath.Base(path), Expect: class, Config: config})
}
