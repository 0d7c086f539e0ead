package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// RunOnlineStore runs every online-store case against target, one subtest per case
// (t.Run("<group>/<name>")). Under `go test -short` slow cases run at reduced size.
func RunOnlineStore(t *testing.T, target Target, opts ...Options) {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Short = o.Short || testing.Short()
	cases, err := LoadCases()
	if err != nil {
		t.Fatal(err)
	}
	for i := range cases {
		c := &cases[i]
		if !o.selected(c) {
			continue
		}
		t.Run(c.Group+"/"+c.Name, func(t *testing.T) {
			if reason := target.skipReason(c); reason != "" {
				t.Skip(reason)
			}
			ctx, cancel := context.WithTimeout(context.Background(), o.caseTimeout())
			defer cancel()
			r := &runner{target: target, opts: o, dir: t.TempDir()}
			if err := r.runCase(ctx, c); err != nil {
				var sc *skipCase
				if errors.As(err, &sc) {
					t.Skip(sc.reason)
				}
				t.Fatalf("%s: %s\n  case: %s", c.Name, failureText(err), c.Description)
			}
		})
	}
}

func failureText(err error) string {
	var se *stepError
	if errors.As(err, &se) && se.class != "" {
		return "[" + se.class + "] " + se.msg
	}
	return err.Error()
}

// Run runs the online-store cases (and, with opts.Sandbox, the sandbox cases and soak)
// without a *testing.T and returns the report; `larder conformance` prints it.
func Run(ctx context.Context, target Target, opts Options) Report {
	start := time.Now()
	rep := Report{Schema: ReportSchema, Target: target.Name, StartedAt: start.UTC(),
		Options: ReportOpts{Short: opts.Short, Cases: opts.Cases, Sandbox: opts.Sandbox != nil}}
	emit := func(c CaseResult) {
		rep.add(c)
		if opts.Progress != nil {
			opts.Progress(c)
		}
	}
	if target.Open != nil {
		cases, err := LoadCases()
		if err != nil {
			emit(CaseResult{Suite: "online", Group: "load", Name: "load", Status: Fail, Message: err.Error()})
		}
		for i := range cases {
			c := &cases[i]
			if !opts.selected(c) {
				continue
			}
			emit(runOne(ctx, target, opts, c))
		}
	}
	if opts.Sandbox != nil {
		rep.Options.Soak = opts.Sandbox.Soak.String()
		sb := runSandbox(ctx, *opts.Sandbox, emit)
		rep.Soak = sb
	}
	rep.DurationMS = ms(time.Since(start))
	return rep
}

func runOne(ctx context.Context, target Target, opts Options, c *Case) CaseResult {
	res := CaseResult{Suite: "online", Group: c.Group, Name: c.Name}
	if reason := target.skipReason(c); reason != "" {
		res.Status, res.Message = Skip, reason
		return res
	}
	dir, err := os.MkdirTemp(opts.TempDir, "larder-conformance-")
	if err != nil {
		res.Status, res.Message = Fail, fmt.Sprintf("creating a directory for the case: %v", err)
		return res
	}
	defer os.RemoveAll(dir)
	cctx, cancel := context.WithTimeout(ctx, opts.caseTimeout())
	defer cancel()
	start := time.Now()
	r := &runner{target: target, opts: opts, dir: dir}
	err = r.runCase(cctx, c)
	res.Duration = ms(time.Since(start))
	if err == nil {
		res.Status = Pass
		return res
	}
	var sc *skipCase
	if errors.As(err, &sc) {
		res.Status, res.Message = Skip, sc.reason
		return res
	}
	res.Status, res.Message = Fail, err.Error()
	var se *stepError
	if errors.As(err, &se) {
		res.Class = se.class
	}
	return res
}
