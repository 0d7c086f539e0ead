package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/larder-dev/larder/conformance"
)

const conformanceUsage = `usage: larder conformance [flags] [PATH.wasm]

Runs the conformance suite against a plugin and prints a case-by-case report
(PASS/FAIL/SKIP, fault class, timing). Exits 1 if any case fails, 2 on bad usage.

  larder conformance store.wasm [--json report.json] [--short] [--case NAME,...]
  larder conformance store.wasm --sandbox [--soak 10s] [--fixtures DIR]
  larder conformance --sandbox [--fixtures DIR] [--healthy sqlite.wasm] [--soak 10s]
  larder conformance --expect-fault CLASS hostile.wasm
  larder conformance odfv.wasm [--transform-spec spec.json]   (transformation plugins)
  larder conformance offline.wasm [--postgres DSN] [--offline-backends duckdb,postgres]
                                                               (offline store plugins)

Flags may come before or after PATH. See conformance/README.md.

`

// runConformance implements `larder conformance`.
func runConformance(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, conformanceUsage)
		fs.PrintDefaults()
	}
	var (
		jsonOut     = fs.String("json", "", "also write the JSON report to `FILE` (- = stdout)")
		short       = fs.Bool("short", false, "scale slow cases down (5k instead of 100k rows)")
		cases       = fs.String("case", "", "run only these comma-separated cases or groups")
		config      = fs.String("config", "", "larder_init config `JSON` object for the plugin (default {})")
		sandbox     = fs.Bool("sandbox", false, "also run the hostile fixtures in --fixtures")
		fixtures    = fs.String("fixtures", "", "fixture `DIR` (default $LARDER_FIXTURE_DIR, else build/fixtures)")
		soak        = fs.Duration("soak", 0, "with --sandbox: hammer the fixtures from 8 callers for this `DURATION`")
		deadline    = fs.Duration("deadline", conformance.DefaultFixtureDeadline, "per-call deadline of hostile fixtures")
		slack       = fs.Duration("slack", 50*time.Millisecond, "how late past its deadline a hostile call may return")
		expectFault = fs.String("expect-fault", "", "PATH is hostile: pass iff it fails with fault `CLASS` and the host stays healthy")
		healthy     = fs.String("healthy", "", "well-behaved plugin probed between hostile calls (default PATH, else $LARDER_PLUGIN_DIR/sqlite.wasm)")
		caseTimeout = fs.Duration("case-timeout", 5*time.Minute, "time limit of one case")
		quiet       = fs.Bool("q", false, "print only failures and the summary")
		redisURL    = fs.String("redis", os.Getenv("LARDER_REDIS_URL"), "Redis `URL` bound to the plugin's redis capabilities, one key namespace per case (default $LARDER_REDIS_URL)")
		redisType   = fs.String("redis-type", "redis", "Feast redis_type of --redis: redis, redis_cluster or redis_sentinel")
		dynamo      = fs.String("dynamodb", os.Getenv("LARDER_DYNAMODB_ENDPOINT"), "DynamoDB endpoint `URL` (dynalite…) bound to the plugin's dynamodb capabilities, one table namespace per case (default $LARDER_DYNAMODB_ENDPOINT)")
		xformSpec   = fs.String("transform-spec", "", "transformation plugins: spec `FILE` of the inputs, outputs and examples (default: the spec embedded for first-party examples)")
		postgres    = fs.String("postgres", "", "bind the plugin's sql capabilities to this PostgreSQL `DSN` (one schema per case) instead of SQLite files; offline stores: run on this server (default $LARDER_PG_DSN)")
		offBackends = fs.String("offline-backends", "", "offline stores: run on these comma-separated backends, duckdb (Parquet files in a temp dir) and postgres (default: what the manifest's features name)")
	)
	var paths []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "larder conformance: "+format+"\n", a...)
		return 2
	}
	if len(paths) > 1 {
		return usageErr("one plugin at a time, got %d paths: %s", len(paths), strings.Join(paths, " "))
	}
	path := ""
	if len(paths) == 1 {
		path = paths[0]
		if _, err := os.Stat(path); err != nil {
			return usageErr("%v", err)
		}
	}
	var cfg json.RawMessage
	if *config != "" {
		if !json.Valid([]byte(*config)) || !strings.HasPrefix(strings.TrimSpace(*config), "{") {
			return usageErr("--config must be a JSON object, got %q", *config)
		}
		cfg = json.RawMessage(*config)
	}
	if *soak > 0 {
		*sandbox = true
	}
	if path == "" && !*sandbox {
		fs.Usage()
		return usageErr("give a plugin PATH, or --sandbox to run the hostile fixtures")
	}
	if *expectFault != "" && path == "" {
		return usageErr("--expect-fault needs the PATH of the hostile module")
	}
	fixtureDir := *fixtures
	if fixtureDir == "" {
		fixtureDir = conformanceEnvOr("LARDER_FIXTURE_DIR", filepath.Join("build", "fixtures"))
	}

	// The healthy plugin, probed between hostile calls: --healthy, else PATH (when it is
	// the plugin under test), else the first-party sqlite plugin.
	var healthyTarget conformance.Target
	if *sandbox || *expectFault != "" {
		hp := *healthy
		if hp == "" && path != "" && *expectFault == "" {
			hp = path
		}
		if hp == "" {
			hp = filepath.Join(conformanceEnvOr("LARDER_PLUGIN_DIR", filepath.Join("build", "plugins")), "sqlite.wasm")
		}
		if _, err := os.Stat(hp); err != nil {
			return usageErr("no healthy plugin to probe between hostile calls (%v); pass --healthy PATH", err)
		}
		hcfg := json.RawMessage(nil)
		if hp == path {
			hcfg = cfg
		}
		healthyTarget = conformance.WasmTarget(hp, conformance.WasmOptions{Config: hcfg, Redis: *redisURL, RedisType: *redisType})
	}
	sb := &conformance.SandboxOptions{FixtureDir: fixtureDir, Healthy: healthyTarget, Soak: *soak, CallDeadline: *deadline, Slack: *slack}

	// Identify the module first: the report carries its digest and manifest, and a
	// plugin of another kind has no online-store cases to run.
	var info *conformance.PluginInfo
	if path != "" {
		var err error
		info, err = conformance.InspectWasm(ctx, path, cfg)
		if info == nil {
			return usageErr("%v", err)
		}
	}

	show := func(c conformance.CaseResult) {
		if !*quiet || c.Status == conformance.Fail {
			fmt.Fprintln(stdout, conformance.FormatCase(c))
		}
	}

	var rep conformance.Report
	if *expectFault != "" {
		start := time.Now()
		rep = conformance.Report{Schema: conformance.ReportSchema, Target: path, StartedAt: start.UTC(),
			Options: conformance.ReportOpts{Sandbox: true}}
		(&conformance.Report{Target: path, Plugin: info}).WriteHeader(stdout)
		c := conformance.ExpectFault(ctx, path, *expectFault, cfg, *sb)
		show(c)
		rep.Cases = append(rep.Cases, c)
		switch c.Status {
		case conformance.Pass:
			rep.Summary.Passed++
		case conformance.Fail:
			rep.Summary.Failed++
		default:
			rep.Summary.Skipped++
		}
		rep.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	} else if path != "" && info.Kind == "transformation" {
		opts := conformance.Options{Short: *short, CaseTimeout: *caseTimeout, Progress: show}
		if *cases != "" {
			opts.Cases = strings.Split(*cases, ",")
		}
		if *sandbox {
			opts.Sandbox = sb
		}
		var err error
		rep, err = runTransformConformance(ctx, path, *xformSpec, info, opts, conformance.WasmOptions{Config: cfg}, stdout, show)
		if err != nil {
			return usageErr("%v", err)
		}
	} else {
		// An offline store runs the offline suite on the backends its manifest names; the
		// backends are decided before anything runs, so a bad flag is a usage error.
		var offline []string
		var offlineSkips []conformance.CaseResult
		isOffline := path != "" && info.Kind == "offline_store"
		pgDSN := *postgres
		if isOffline {
			if pgDSN == "" {
				pgDSN = os.Getenv("LARDER_PG_DSN")
			}
			var err error
			if offline, offlineSkips, err = offlineBackends(info, *offBackends, pgDSN); err != nil {
				return usageErr("%v", err)
			}
		} else if *offBackends != "" {
			return usageErr("--offline-backends is for offline store plugins")
		}
		var target conformance.Target
		if path != "" {
			target = conformance.WasmTarget(path, conformance.WasmOptions{Config: cfg, Redis: *redisURL, RedisType: *redisType, Postgres: *postgres, DynamoDB: *dynamo})
			if info.Kind != "" && info.Kind != "online_store" {
				// Skipped, not failed: `make test` runs the suite on every first-party
				// plugin, offline stores and transformations included.
				target.Open = nil
				target.Name += " (kind " + info.Kind + ")"
			}
		} else {
			target.Name = "sandbox fixtures in " + fixtureDir
		}
		opts := conformance.Options{Short: *short, CaseTimeout: *caseTimeout, Progress: show}
		if *cases != "" {
			opts.Cases = strings.Split(*cases, ",")
		}
		if *sandbox {
			opts.Sandbox = sb
		}
		(&conformance.Report{Target: target.Name, Plugin: info}).WriteHeader(stdout)
		var off conformance.Report
		if isOffline {
			for _, c := range offlineSkips {
				show(c)
			}
			var err error
			if off, err = runOfflineConformance(ctx, path, offline, pgDSN, opts); err != nil {
				fmt.Fprintf(stderr, "larder conformance: %v\n", err)
				return 1
			}
			off.Cases = append(offlineSkips, off.Cases...)
			off.Summary.Skipped += len(offlineSkips)
		}
		rep = conformance.Run(ctx, target, opts)
		if isOffline {
			// The offline cases first, then any sandbox cases (--sandbox).
			rep.Cases = append(off.Cases, rep.Cases...)
			rep.Summary.Passed += off.Summary.Passed
			rep.Summary.Failed += off.Summary.Failed
			rep.Summary.Skipped += off.Summary.Skipped
			rep.DurationMS += off.DurationMS
			rep.StartedAt = off.StartedAt
		} else if path != "" && target.Open == nil {
			c := conformance.CaseResult{Suite: "online", Group: "kind", Name: "kind", Status: conformance.Skip,
				Message: fmt.Sprintf("plugin kind %s: conformance v1.0 has online_store cases only", info.Kind)}
			show(c)
			rep.Cases = append([]conformance.CaseResult{c}, rep.Cases...)
			rep.Summary.Skipped++
		}
	}
	rep.Plugin = info
	rep.WriteFooter(stdout)
	if *jsonOut != "" {
		if err := writeJSONReport(*jsonOut, &rep, stdout); err != nil {
			fmt.Fprintf(stderr, "larder conformance: %v\n", err)
			return 1
		}
	}
	if rep.Failed() {
		return 1
	}
	return 0
}

func writeJSONReport(dst string, rep *conformance.Report, stdout io.Writer) error {
	if dst == "-" {
		return rep.WriteJSON(stdout)
	}
	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("writing the JSON report: %w", err)
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("writing the JSON report to %s: %w", dst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the JSON report to %s: %w", dst, err)
	}
	return nil
}

func conformanceEnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
