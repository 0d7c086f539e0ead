// Command larder is the single binary of Larder, a Feast-compatible feature store whose
// stores and transformations are sandboxed WebAssembly plugins.
//
//	larder init [DIR]                        scaffold an example feature repo
//	larder plan                              show what apply would change
//	larder apply                             register definitions, create online tables
//	larder teardown                          drop online tables and the project's registry
//	larder materialize START END [--views]   load the latest values of a window online
//	larder materialize-incremental END       load what is new since the last run
//	larder historical --entities F --out F   training data (point-in-time join) to Parquet
//	larder serve [--host H] [--port P]       Feast's HTTP feature server
//	larder registry-dump                     the registry as JSON
//	larder conformance PLUGIN.wasm           check a plugin against the ABI and Feast
//	larder plugin inspect PLUGIN.wasm        print a plugin's manifest
//
// Every repo command takes the feature repo from --chdir / -C / --repo DIR (default:
// the current directory) and the config from -f FILE (default DIR/feature_store.yaml),
// before or after the command name.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `Larder: a Feast-compatible feature store with WebAssembly plugins.

usage: larder [--chdir DIR] [-f FILE] COMMAND [flags] [args]

Commands:
  init [DIR]                       create an example feature repo (driver statistics) in DIR (default .)
  plan                             show what apply would change, change nothing
  apply                            register the repo's definitions and create the online tables
  teardown                         drop the project's online tables and registry objects
  materialize START END            load the latest values in [START, END) into the online store
  materialize-incremental END      load everything new since the last materialization, up to END
  historical --entities FILE ...   point-in-time-correct training data to a Parquet file
  serve                            run the feature server (Feast's HTTP API)
  registry-dump                    print the project's registry as JSON
  conformance PLUGIN.wasm          run the conformance suite against a plugin
  plugin inspect PLUGIN.wasm       print a plugin's manifest and ABI facts
  version                          print the version

Global flags (also accepted after the command):
  -C, --chdir, --repo DIR          the feature repo (default: the current directory)
  -f FILE                          the feature_store.yaml to use (default: DIR/feature_store.yaml)

Plugins named by store type (sqlite, duckdb, …) are loaded from $LARDER_PLUGIN_DIR, else
plugins/ next to the larder binary, else ./build/plugins.

Run 'larder COMMAND -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand: it parses its own flags and returns the exit code.
type command func(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) int

var commands = map[string]command{
	"init":                    cmdInit,
	"plan":                    cmdPlan,
	"apply":                   cmdApply,
	"teardown":                cmdTeardown,
	"materialize":             cmdMaterialize,
	"materialize-incremental": cmdMaterializeIncremental,
	"serve":                   cmdServe,
	"historical":              cmdHistorical,
	"registry-dump":           cmdRegistryDump,
	"plugin":                  cmdPlugin,
	"conformance": func(ctx context.Context, _ *globals, args []string, stdout, stderr io.Writer) int {
		return runConformance(ctx, args, stdout, stderr)
	},
	"version": func(_ context.Context, _ *globals, _ []string, stdout, _ io.Writer) int {
		fmt.Fprintf(stdout, "larder %s (plugin ABI v1.0)\n", version)
		return 0
	},
}

// globals are the flags every repo command shares.
type globals struct {
	repoDir    string
	configFile string
	logLevel   string
}

// register adds the shared flags to a command's flag set, so they work after the
// command name too.
func (g *globals) register(fs *flag.FlagSet) {
	for _, name := range []string{"C", "chdir", "repo"} {
		fs.StringVar(&g.repoDir, name, g.repoDir, "feature repo `DIR`")
	}
	fs.StringVar(&g.configFile, "f", g.configFile, "feature_store.yaml `FILE` (default DIR/feature_store.yaml)")
	fs.StringVar(&g.logLevel, "log-level", g.logLevel, "plugin and server log `LEVEL`: debug, info, warn, error")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{repoDir: ".", logLevel: "warn"}
	top := flag.NewFlagSet("larder", flag.ContinueOnError)
	top.SetOutput(stderr)
	top.Usage = func() { fmt.Fprint(stderr, usage) }
	g.register(top)
	showVersion := top.Bool("version", false, "print the version")
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		return commands["version"](ctx, g, nil, stdout, stderr)
	}
	if top.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name, rest := top.Arg(0), top.Args()[1:]
	if name == "help" {
		if len(rest) > 0 && commands[rest[0]] != nil {
			return commands[rest[0]](ctx, g, []string{"-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd := commands[name]
	if cmd == nil {
		fmt.Fprintf(stderr, "larder: unknown command %q%s\n\n%s", name, suggest(name), usage)
		return 2
	}
	return cmd(ctx, g, rest, stdout, stderr)
}

func suggest(name string) string {
	for c := range commands {
		if strings.HasPrefix(c, name) || strings.HasPrefix(name, c) {
			return fmt.Sprintf(" (did you mean %q?)", c)
		}
	}
	return ""
}

// parseArgs parses flags wherever they appear among the positional arguments (the
// flag package stops at the first positional one), and returns the positional ones.
// It returns ok=false with the exit code when parsing ended the command (-h or an error).
func parseArgs(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		if fs.NArg() == 0 {
			return pos, 0, true
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
}

// newFlags makes a command's flag set with the shared flags and a usage text.
func newFlags(name, synopsis string, g *globals, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	g.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: larder %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// fail prints a command's error and returns the exit code for it.
func fail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "larder %s: %v\n", name, err)
	return 1
}

// usageError prints a usage mistake and returns 2.
func usageError(stderr io.Writer, name, format string, args ...any) int {
	fmt.Fprintf(stderr, "larder %s: %s\n(run 'larder %s -h' for help)\n", name, fmt.Sprintf(format, args...), name)
	return 2
}
