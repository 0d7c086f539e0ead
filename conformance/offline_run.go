package conformance

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RunOffline runs the offline-store suite of RunOfflineStore — the named cases, then the
// seeded random ones (fewer with opts.Short) — against each target without a *testing.T,
// and returns the report; `larder conformance` prints it. A case is reported as suite
// "offline", group the target's name. opts.Cases selects by case name ("random 7"),
// "cases", "random", a target name or "offline".
func RunOffline(ctx context.Context, targets []OfflineTarget, opts Options) Report {
	start := time.Now()
	rep := Report{Schema: ReportSchema, StartedAt: start.UTC(),
		Options: ReportOpts{Short: opts.Short, Cases: opts.Cases}}
	names := make([]string, len(targets))
	for i, tg := range targets {
		names[i] = tg.Name
	}
	rep.Target = "offline store: " + strings.Join(names, ", ")
	emit := func(c CaseResult) {
		rep.add(c)
		if opts.Progress != nil {
			opts.Progress(c)
		}
	}
	base, n, err := offlineSeeds(opts.Short)
	if err != nil {
		emit(CaseResult{Suite: "offline", Group: "seeds", Name: "seeds", Status: Fail, Message: err.Error()})
		rep.DurationMS = ms(time.Since(start))
		return rep
	}
	type entry struct {
		c    *offlineCase
		kind string // "cases" or "random"
		seed int64
	}
	var all []entry
	for _, c := range namedOfflineCases() {
		all = append(all, entry{c: c, kind: "cases"})
	}
	for seed := base; seed < base+int64(n); seed++ {
		all = append(all, entry{c: randomOfflineCase(seed), kind: "random", seed: seed})
	}
	for _, tg := range targets {
		cache, err := os.MkdirTemp(opts.TempDir, "larder-offline-cache-")
		if err != nil {
			emit(CaseResult{Suite: "offline", Group: tg.Name, Name: "setup", Status: Fail, Message: fmt.Sprintf("creating the compilation cache: %v", err)})
			continue
		}
		for _, e := range all {
			if len(opts.Cases) > 0 && !contains(opts.Cases, e.c.name) && !contains(opts.Cases, e.kind) &&
				!contains(opts.Cases, tg.Name) && !contains(opts.Cases, "offline") {
				continue
			}
			if ctx.Err() != nil {
				break
			}
			res := runOfflineOne(ctx, tg, cache, opts, e.c)
			if res.Status == Fail && e.kind == "random" {
				res.Message += fmt.Sprintf(" (reproduce with --case 'random %d', or LARDER_OFFLINE_SEED=%d)", e.seed, e.seed)
			}
			emit(res)
		}
		os.RemoveAll(cache)
	}
	rep.DurationMS = ms(time.Since(start))
	return rep
}

func runOfflineOne(ctx context.Context, target OfflineTarget, cache string, opts Options, c *offlineCase) CaseResult {
	res := CaseResult{Suite: "offline", Group: target.Name, Name: c.name}
	cctx, cancel := context.WithTimeout(ctx, opts.caseTimeout())
	defer cancel()
	tb := &caseTB{name: "offline/" + target.Name + "/" + c.name, tempParent: opts.TempDir, ctx: cctx}
	start := time.Now()
	tb.run(func(t testing.TB) { runOfflineCase(cctx, t, target, cache, c) })
	res.Duration = ms(time.Since(start))
	switch {
	case tb.Failed():
		res.Status, res.Message = Fail, strings.Join(tb.msgs, "; ")
	case tb.Skipped():
		res.Status, res.Message = Skip, strings.Join(tb.msgs, "; ")
	default:
		res.Status = Pass
	}
	return res
}

// caseTB is the testing.TB an offline case runs with outside go test. The cases and the
// backends (OfflineTarget.NewBackend, whose signature takes a testing.TB) report through
// t.Fatal and clean up through t.Cleanup; caseTB gives those their go test meaning: a
// fatal call ends the case's goroutine (runtime.Goexit, as testing does), cleanups run
// last-in first-out afterwards, and the messages become the case's report line.
type caseTB struct {
	// testing.TB is nil: embedded only for the interface's unexported method. Every
	// exported method is defined below.
	testing.TB
	name       string
	tempParent string
	ctx        context.Context

	mu       sync.Mutex
	failed   bool
	skipped  bool
	msgs     []string
	cleanups []func()
}

// run calls f in a goroutine of its own (so FailNow can end it), then the cleanups.
func (t *caseTB) run(f func(testing.TB)) {
	t.guard(func() { f(t) })
	for {
		t.mu.Lock()
		if len(t.cleanups) == 0 {
			t.mu.Unlock()
			return
		}
		c := t.cleanups[len(t.cleanups)-1]
		t.cleanups = t.cleanups[:len(t.cleanups)-1]
		t.mu.Unlock()
		t.guard(c)
	}
}

// guard runs f in a new goroutine and waits for it; a panic fails the case.
func (t *caseTB) guard(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				t.record(true, fmt.Sprintf("panic: %v", r))
			}
		}()
		f()
	}()
	<-done
}

func (t *caseTB) record(fail bool, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fail {
		t.failed = true
	}
	if msg != "" {
		t.msgs = append(t.msgs, strings.TrimRight(msg, "\n"))
	}
}

func (t *caseTB) Error(args ...any)                 { t.record(true, fmt.Sprint(args...)) }
func (t *caseTB) Errorf(format string, args ...any) { t.record(true, fmt.Sprintf(format, args...)) }
func (t *caseTB) Fail()                             { t.record(true, "") }
func (t *caseTB) FailNow()                          { t.record(true, ""); runtime.Goexit() }
func (t *caseTB) Fatal(args ...any)                 { t.Error(args...); runtime.Goexit() }
func (t *caseTB) Fatalf(format string, args ...any) { t.Errorf(format, args...); runtime.Goexit() }
func (t *caseTB) Failed() bool                      { t.mu.Lock(); defer t.mu.Unlock(); return t.failed }
func (t *caseTB) Skipped() bool                     { t.mu.Lock(); defer t.mu.Unlock(); return t.skipped }
func (t *caseTB) SkipNow()                          { t.skip(""); runtime.Goexit() }
func (t *caseTB) Skip(args ...any)                  { t.skip(fmt.Sprint(args...)); runtime.Goexit() }
func (t *caseTB) Skipf(format string, args ...any) {
	t.skip(fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (t *caseTB) skip(msg string) {
	t.mu.Lock()
	t.skipped = true
	t.mu.Unlock()
	t.record(false, msg)
}

// Log and Logf keep nothing: a passing case's logs are noise in the report, and a
// failing case says what failed in its Fatal message.
func (t *caseTB) Log(args ...any)                 {}
func (t *caseTB) Logf(format string, args ...any) {}
func (t *caseTB) Helper()                         {}
func (t *caseTB) Name() string                    { return t.name }
func (t *caseTB) Context() context.Context        { return t.ctx }
func (t *caseTB) Output() io.Writer               { return io.Discard }
func (t *caseTB) Attr(key, value string)          {}

func (t *caseTB) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

func (t *caseTB) TempDir() string {
	dir, err := os.MkdirTemp(t.tempParent, "larder-conformance-")
	if err != nil {
		t.Fatalf("creating a directory for the case: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *caseTB) ArtifactDir() string { return t.TempDir() }

// Setenv and Chdir change the whole process, which a CLI run shares with every case.
func (t *caseTB) Setenv(key, value string) {
	t.Fatalf("Setenv(%s) is not available outside go test", strconv.Quote(key))
}
func (t *caseTB) Chdir(dir string) { t.Fatalf("Chdir(%s) is not available outside go test", dir) }
