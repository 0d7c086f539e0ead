package conformance

import (
	"context"
	"time"

	"github.com/larder-dev/larder/host"
)

// Target says how to get a fresh online store. Open is called once at the start of every
// case (and again by a case's "reopen" step) with a directory that is empty at the start of
// the case and private to it: a store keeps its state there (a SQLite file, say), so cases
// never see each other's data. Reopening with the same dir must see the same data.
type Target struct {
	// Name labels the target in reports ("sqlite.wasm", "nativestore/sqlite").
	Name string
	Open func(ctx context.Context, dir string) (host.OnlineStore, error)
	// Skip maps a case name (or a group name, the case file without .json) to the reason
	// it does not apply to this target. Skips are reported, never silent.
	Skip map[string]string
}

// Options tunes a run. The zero value runs every case at full size.
type Options struct {
	// Cases, if set, runs only cases whose name or group is listed.
	Cases []string
	// Short scales slow cases down (go test -short): fewer bulk rows, fewer rounds.
	Short bool
	// CaseTimeout bounds one case; 0 = 5 minutes.
	CaseTimeout time.Duration
	// TempDir is the parent of the per-case directories; "" = os.TempDir().
	TempDir string
	// Progress, if set, is called after every case (the CLI prints as it goes).
	Progress func(CaseResult)
	// Sandbox, if set, also runs the hostile-fixture cases and the soak check.
	Sandbox *SandboxOptions
}

func (o Options) caseTimeout() time.Duration {
	if o.CaseTimeout > 0 {
		return o.CaseTimeout
	}
	return 5 * time.Minute
}

func (o Options) selected(c *Case) bool {
	if len(o.Cases) == 0 {
		return true
	}
	for _, n := range o.Cases {
		if n == c.Name || n == c.Group {
			return true
		}
	}
	return false
}

func (t Target) skipReason(c *Case) string {
	if r, ok := t.Skip[c.Name]; ok {
		return r
	}
	return t.Skip[c.Group]
}
