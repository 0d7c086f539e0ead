// Package hosttest helps tests of the Wasm host and the conformance suite: it builds
// the fixture plugins of conformance/fixtures and runs soak tests that hammer plugins
// from many goroutines while checking that calls stay within their deadline and no
// goroutine leaks.
package hosttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/larder-dev/larder/host"
)

// Fixtures lists the fixture plugins in conformance/fixtures.
var Fixtures = []string{"echo", "capprobe", "trap", "loop", "membomb", "recursion",
	"badregion", "badbatch", "wrongrows", "oversized", "wrongabi", "missingexport"}

// RepoRoot finds the repository root (the directory whose go.mod declares the root
// module) from the working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/larder-dev/larder\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod of github.com/larder-dev/larder) not found above the working directory")
		}
		dir = parent
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// BuildFixtures builds every fixture that is missing or older than its sources into
// <root>/build/fixtures (or $LARDER_FIXTURES_DIR when set) and returns the directory.
// It runs once per process.
func BuildFixtures() (string, error) {
	buildOnce.Do(func() { buildDir, buildErr = buildFixtures() })
	return buildDir, buildErr
}

func buildFixtures() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := os.Getenv("LARDER_FIXTURES_DIR")
	if out == "" {
		out = filepath.Join(root, "build", "fixtures")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(root, "conformance", "fixtures")
	shared, err := newest(filepath.Join(src, "internal"), filepath.Join(src, "go.mod"), filepath.Join(root, "abi"))
	if err != nil {
		return "", err
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 2)
	)
	for _, name := range Fixtures {
		target := filepath.Join(out, name+".wasm")
		own, err := newest(filepath.Join(src, name))
		if err != nil {
			return "", err
		}
		if st, err := os.Stat(target); err == nil && st.ModTime().After(own) && st.ModTime().After(shared) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", target, "./"+name)
			cmd.Dir = src
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if b, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("building fixture %s: %v\n%s", name, err, b))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// newest returns the latest modification time of the files under paths.
func newest(paths ...string) (time.Time, error) {
	var t time.Time
	for _, p := range paths {
		err := filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if info, err := d.Info(); err == nil && info.ModTime().After(t) {
				t = info.ModTime()
			}
			return nil
		})
		if err != nil {
			return t, err
		}
	}
	return t, nil
}

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
	// Cleanup runs after the callers stop and before goroutines are counted (close the
	// plugins here).
	Cleanup func() error
}

// SoakReport is what a soak run saw.
type SoakReport struct {
	Calls        int
	Classes      map[string]int // fault class -> count ("" = success)
	MaxLatency   time.Duration
	Late         int // calls that took longer than Deadline+Slack
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
	rep := SoakReport{Classes: map[string]int{}}
	rep.GoroutinesAt.Start = runtime.NumGoroutine()
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
				if took > rep.MaxLatency {
					rep.MaxLatency = took
				}
				if o.Deadline > 0 && took > o.Deadline+o.Slack {
					rep.Late++
					if len(rep.Problems) < 20 {
						rep.Problems = append(rep.Problems, fmt.Sprintf("call %d took %v (deadline %v + %v): %v",
							i%len(o.Calls), took, o.Deadline, o.Slack, err))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
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
