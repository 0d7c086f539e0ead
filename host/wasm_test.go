package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/hosttest"
)

// fixture returns the path of a built fixture plugin.
func fixture(t testing.TB, name string) string {
	t.Helper()
	dir, err := hosttest.BuildFixtures()
	if err != nil {
		t.Fatalf("building fixtures: %v", err)
	}
	return filepath.Join(dir, name+".wasm")
}

// testConfig is a fast-failing configuration for fixture tests.
func testConfig(t testing.TB, name string) host.PluginConfig {
	return host.PluginConfig{
		Path:     fixture(t, name),
		CacheDir: testCacheDir(t),
		Limits:   host.Limits{CallTimeout: time.Second, MemoryBytes: 64 << 20},
		Pool:     host.PoolConfig{Min: 1, Max: 2},
		Breaker:  host.BreakerConfig{Faults: -1},
	}
}

// testCacheDir is a compilation cache shared by the tests of one run, so each fixture
// is compiled once.
func testCacheDir(t testing.TB) string {
	if d := os.Getenv("LARDER_TEST_CACHE_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "larder-host-test-wazero")
}

func load(t testing.TB, cfg host.PluginConfig) *host.WasmOnlineStore {
	t.Helper()
	s, err := host.LoadOnlineStore(context.Background(), cfg)
	if err != nil {
		t.Fatalf("loading %s: %v", cfg.Path, err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

var (
	key1 = []byte{2, 0, 0, 0, 1}
	key2 = []byte{2, 0, 0, 0, 2}
)

func readReq(project string, keys ...[]byte) host.ReadRequest {
	return host.ReadRequest{Project: project, Views: []host.ReadView{
		{Name: "driver_stats", Features: []string{"conv_rate", "acc_rate"}, EntityKeys: keys},
	}}
}

// roundTrip writes one row and reads it back, checking the values.
func roundTrip(t testing.TB, s host.OnlineStore, project string) {
	t.Helper()
	ctx := context.Background()
	ts := time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)
	err := s.Write(ctx, host.WriteRequest{Project: project, View: "driver_stats",
		Features: []string{"conv_rate", "acc_rate"},
		Rows:     []host.WriteRow{{EntityKey: key1, EventTS: ts, Values: [][]byte{[]byte("v1"), nil}}}})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	res, err := s.Read(ctx, readReq(project, key1, key2))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	got := res.Views[0]
	if len(got) != 4 {
		t.Fatalf("read returned %d values, want 4", len(got))
	}
	if got[0].Status != abi.FieldPresent || !bytes.Equal(got[0].Value, []byte("v1")) || !got[0].EventTS.Truncate(time.Second).Equal(ts.Truncate(time.Second)) {
		t.Errorf("conv_rate of key1 = %+v", got[0])
	}
	for i := 1; i < 4; i++ {
		if got[i].Status != abi.FieldNotFound || got[i].Value != nil {
			t.Errorf("value %d = %+v, want NOT_FOUND", i, got[i])
		}
	}
}

func TestEchoRoundTrip(t *testing.T) {
	cfg := testConfig(t, "echo")
	cfg.Pool = host.PoolConfig{Min: 1, Max: 1} // echo keeps data per instance
	s := load(t, cfg)
	ctx := context.Background()
	upd := host.UpdateRequest{Project: "p", TablesToKeep: []host.Table{{Name: "driver_stats", Features: []string{"conv_rate"}}}}
	if err := s.Update(ctx, upd); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s, "p")
	if err := s.Teardown(ctx, host.UpdateRequest{Project: "p", TablesToDelete: upd.TablesToKeep}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Read(ctx, readReq("p", key1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Views[0][0].Status != abi.FieldNotFound {
		t.Errorf("after teardown: %+v, want NOT_FOUND", res.Views[0][0])
	}
	m := s.Manifest()
	if m.ID != "echo" || m.Kind != abi.KindOnlineStore {
		t.Errorf("manifest = %+v", m)
	}
	if inf := s.Info(); inf.ABIVersion != "1.0" || len(inf.SHA256) != 64 || !inf.Interruptible {
		t.Errorf("info = %+v", inf)
	}
	// An empty read does not call the plugin.
	if res, err := s.Read(ctx, host.ReadRequest{Project: "p", Views: []host.ReadView{{Name: "v"}}}); err != nil || len(res.Views[0]) != 0 {
		t.Errorf("empty read = %+v, %v", res, err)
	}
}

// TestFixtureFaults loads every hostile fixture and checks the fault class of its
// misbehaviour, twice (the second call runs on a replacement instance), while a
// healthy plugin loaded alongside keeps working.
func TestFixtureFaults(t *testing.T) {
	healthy := load(t, func() host.PluginConfig {
		c := testConfig(t, "echo")
		c.Pool = host.PoolConfig{Min: 1, Max: 1}
		return c
	}())
	cases := []struct {
		fixture   string
		loadClass string // fault class of loading, "" = loads
		callClass string // fault class of a read
		msg       string // part of the error message
		config    string
		limits    func(*host.Limits)
	}{
		{fixture: "wrongabi", loadClass: host.FaultABIVersion, msg: "plugin declares ABI v9.0; this host supports v1.0"},
		{fixture: "missingexport", loadClass: host.FaultMissingExport, msg: "larder_online_read"},
		{fixture: "trap", callClass: host.FaultTrap, msg: "nil map"},
		{fixture: "loop", callClass: host.FaultDeadline, limits: func(l *host.Limits) { l.CallTimeout = 200 * time.Millisecond }},
		{fixture: "membomb", callClass: host.FaultMemoryLimit, msg: "out of memory", limits: func(l *host.Limits) { l.MemoryBytes = 32 << 20 }},
		{fixture: "recursion", callClass: host.FaultMemoryLimit, limits: func(l *host.Limits) { l.MemoryBytes = 32 << 20 }},
		// The call depth limit stops it within milliseconds, long before wazero's stack
		// ceiling (hundreds of MB of machine stack, hundreds of ms).
		{fixture: "stackbomb", callClass: host.FaultTrap, msg: "stack overflow: more than 65536 nested calls"},
		{fixture: "badregion", callClass: host.FaultBadOutput, msg: "outside the"},
		{fixture: "badbatch", callClass: host.FaultBadOutput, msg: "header says"},
		{fixture: "wrongrows", callClass: host.FaultBadOutput, msg: "want 4"},
		{fixture: "oversized", callClass: host.FaultOutputTooLarge, msg: "exceeds the"},
		{fixture: "oversized", callClass: host.FaultOutputTooLarge, config: `{"bytes": 2097152}`,
			limits: func(l *host.Limits) { l.MaxOutputBytes = 1 << 20 }},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			cfg := testConfig(t, c.fixture)
			if c.config != "" {
				cfg.Config = []byte(c.config)
			}
			if c.limits != nil {
				c.limits(&cfg.Limits)
			}
			s, err := host.LoadOnlineStore(context.Background(), cfg)
			if c.loadClass != "" {
				if got := host.FaultClass(err); got != c.loadClass {
					t.Fatalf("load: class %q (%v), want %q", got, err, c.loadClass)
				}
				if !strings.Contains(err.Error(), c.msg) {
					t.Errorf("load error %q lacks %q", err, c.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			defer s.Close(context.Background())
			for i := 0; i < 2; i++ {
				start := time.Now()
				_, err := s.Read(context.Background(), readReq("p", key1, key2))
				if got := host.FaultClass(err); got != c.callClass {
					t.Fatalf("call %d: class %q (%v), want %q", i, got, err, c.callClass)
				}
				if !host.IsFault(err) {
					t.Errorf("call %d: IsFault(%v) = false", i, err)
				}
				if !strings.Contains(err.Error(), c.msg) {
					t.Errorf("call %d: error %q lacks %q", i, err, c.msg)
				}
				t.Logf("call %d: %v after %v", i, err, time.Since(start).Round(time.Millisecond))
				roundTrip(t, healthy, "p")
			}
			if h := s.Health(); h.Discarded < 2 || h.Faults < 2 || h.LastFaultClass != c.callClass {
				t.Errorf("health = %+v, want 2 discarded instances and faults of class %s", h, c.callClass)
			}
		})
	}
}

func TestStatusIsNotAFault(t *testing.T) {
	cfg := testConfig(t, "echo")
	cfg.Pool = host.PoolConfig{Min: 1, Max: 1}
	s := load(t, cfg)
	_, err := s.CallRaw(context.Background(), abi.ExportOnlineRead, []byte("not a batch"), true)
	var se *host.PluginStatusError
	if !errors.As(err, &se) || !errors.Is(err, abi.ErrSerializationFailure) || host.FaultClass(err) != host.FaultStatus {
		t.Fatalf("err = %v (class %q), want a SERIALIZATION_FAILURE status", err, host.FaultClass(err))
	}
	if !strings.Contains(se.Message, "LBF1") || host.IsFault(err) {
		t.Errorf("message %q, IsFault %v", se.Message, host.IsFault(err))
	}
	if h := s.Health(); h.Discarded != 0 || h.Created != 1 {
		t.Errorf("a non-OK status replaced the instance: %+v", h)
	}
	roundTrip(t, s, "p") // same instance, data path intact
}

func TestPoolDiscardAndReplace(t *testing.T) {
	cfg := testConfig(t, "trap")
	cfg.Pool = host.PoolConfig{Min: 1, Max: 1}
	s := load(t, cfg)
	for i := 0; i < 3; i++ {
		if _, err := s.Read(context.Background(), readReq("p", key1)); host.FaultClass(err) != host.FaultTrap {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	h := waitHealth(t, s.Plugin, func(h host.Health) bool { return h.Instances == 1 && h.IdleInstances == 1 })
	if h.Discarded != 3 || h.Created != 4 {
		t.Errorf("health = %+v, want 3 discarded and 4 created (every faulted instance replaced)", h)
	}
}

// waitHealth polls until cond holds (the pool refills in the background).
func waitHealth(t *testing.T, p *host.Plugin, cond func(host.Health) bool) host.Health {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := p.Health()
		if cond(h) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("health never reached the expected state: %+v", h)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPoolExhausted(t *testing.T) {
	cfg := testConfig(t, "loop")
	cfg.Pool = host.PoolConfig{Min: 1, Max: 1}
	cfg.Limits.CallTimeout = 300 * time.Millisecond
	s := load(t, cfg)
	done := make(chan error)
	go func() { _, err := s.Read(context.Background(), readReq("p", key1)); done <- err }()
	waitHealth(t, s.Plugin, func(h host.Health) bool { return h.IdleInstances == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := s.Read(ctx, readReq("p", key1))
	if host.FaultClass(err) != host.FaultPoolExhausted || !errors.Is(err, abi.ErrResourceExhausted) {
		t.Errorf("second call: %v (class %q), want pool_exhausted", err, host.FaultClass(err))
	}
	if err := <-done; host.FaultClass(err) != host.FaultDeadline {
		t.Errorf("first call: %v, want deadline", err)
	}
}

func TestBreaker(t *testing.T) {
	cfg := testConfig(t, "trap")
	cfg.Breaker = host.BreakerConfig{Faults: 2, Window: time.Minute, Cooldown: 100 * time.Millisecond}
	s := load(t, cfg)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := s.Read(ctx, readReq("p", key1)); host.FaultClass(err) != host.FaultTrap {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := s.Read(ctx, readReq("p", key1))
	if !errors.Is(err, host.ErrUnhealthy) || !strings.Contains(err.Error(), "nil map") {
		t.Fatalf("after 2 faults: %v, want unhealthy naming the last fault", err)
	}
	if h := s.Health(); h.Healthy() || h.State != "unhealthy" || h.RetryAt.IsZero() {
		t.Errorf("health = %+v", h)
	}
	calls := s.Health().Calls
	time.Sleep(150 * time.Millisecond)
	// Half-open: one trial reaches the plugin, traps again and reopens the breaker.
	if _, err := s.Read(ctx, readReq("p", key1)); host.FaultClass(err) != host.FaultTrap {
		t.Fatalf("trial call: %v", err)
	}
	if _, err := s.Read(ctx, readReq("p", key1)); !errors.Is(err, host.ErrUnhealthy) {
		t.Fatalf("after failed trial: %v", err)
	}
	if got := s.Health().Calls - calls; got != 1 {
		t.Errorf("%d calls reached the plugin while unhealthy, want 1 trial", got)
	}
}

func TestDigestPinning(t *testing.T) {
	cfg := testConfig(t, "echo")
	cfg.SHA256 = strings.Repeat("ab", 32)
	_, err := host.LoadOnlineStore(context.Background(), cfg)
	if host.FaultClass(err) != host.FaultDigestMismatch || !strings.Contains(err.Error(), "expected sha256 "+cfg.SHA256) {
		t.Fatalf("err = %v", err)
	}
	actual := err.(*host.PluginFault).Detail
	actual = actual[strings.LastIndex(actual, " ")+1:]
	cfg.SHA256 = "sha256:" + strings.ToUpper(actual)
	s := load(t, cfg)
	if s.Info().SHA256 != actual {
		t.Errorf("digest %s, want %s", s.Info().SHA256, actual)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "x.wasm")
	os.WriteFile(notWasm, []byte("not wasm"), 0o644)
	for _, c := range []struct {
		name  string
		cfg   func(*host.PluginConfig)
		class string
		msg   string
	}{
		{"missing file", func(c *host.PluginConfig) { c.Path = filepath.Join(dir, "nope.wasm") }, host.FaultBadModule, "no such file"},
		{"not wasm", func(c *host.PluginConfig) { c.Path = notWasm }, host.FaultBadModule, "compiling"},
		{"too large", func(c *host.PluginConfig) { c.Limits.MaxModuleBytes = 1000 }, host.FaultBadModule, "1000-byte limit"},
		{"memory too small", func(c *host.PluginConfig) { c.Limits.MemoryBytes = 1 << 20 }, host.FaultMemoryLimit, ""},
		{"unknown grant", func(c *host.PluginConfig) { c.Grants = []host.Grant{{Kind: "ftp", Name: "x"}} }, host.FaultOther, "unknown capability kind"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, "echo")
			c.cfg(&cfg)
			_, err := host.LoadOnlineStore(context.Background(), cfg)
			if got := host.FaultClass(err); got != c.class || !strings.Contains(fmtErr(err), c.msg) {
				t.Fatalf("err = %v (class %q), want class %q containing %q", err, got, c.class, c.msg)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestKindMismatch(t *testing.T) {
	// echo is an online store; loading it as a plugin of any kind works and reports it.
	cfg := testConfig(t, "echo")
	p, err := host.LoadPlugin(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if p.Manifest().Kind != abi.KindOnlineStore {
		t.Errorf("kind %q", p.Manifest().Kind)
	}
}

func capConfig(t *testing.T, grants ...host.Grant) host.PluginConfig {
	cfg := testConfig(t, "capprobe")
	cfg.Grants = grants
	return cfg
}

func sqlGrant(t *testing.T, phases ...string) host.Grant {
	return host.Grant{Kind: "sql", Name: "online", Phases: phases,
		SQL: &host.SQLGrant{Path: filepath.Join(t.TempDir(), "online.db"), TablePrefix: "p_"}}
}

var updateP = host.UpdateRequest{Project: "p", TablesToKeep: []host.Table{{Name: "driver_stats", Features: []string{"conv_rate", "acc_rate"}}}}

func TestSQLCapabilityStore(t *testing.T) {
	s := load(t, capConfig(t, sqlGrant(t)))
	if err := s.Update(context.Background(), updateP); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), updateP); err != nil {
		t.Fatalf("update is not idempotent: %v", err)
	}
	roundTrip(t, s, "p")
	if inf := s.Info(); len(inf.Ungranted) != 0 {
		t.Errorf("ungranted = %+v", inf.Ungranted)
	}
}

func TestCapabilityDenied(t *testing.T) {
	ctx := context.Background()
	t.Run("not granted", func(t *testing.T) {
		s := load(t, capConfig(t))
		err := s.Update(ctx, updateP)
		if !errors.Is(err, abi.ErrPermissionDenied) || host.FaultClass(err) != host.FaultStatus {
			t.Fatalf("update without grant: %v", err)
		}
		if inf := s.Info(); len(inf.Ungranted) != 1 || inf.Ungranted[0].Name != "online" {
			t.Errorf("ungranted = %+v", inf.Ungranted)
		}
	})
	t.Run("other name", func(t *testing.T) {
		s := load(t, capConfig(t, sqlGrant(t)))
		_, err := s.Read(ctx, readReq("probe_denied", key1))
		if !errors.Is(err, abi.ErrPermissionDenied) || !strings.Contains(err.Error(), "sql/secret refused") {
			t.Fatalf("opening an ungranted name: %v", err)
		}
	})
	t.Run("outside prefix", func(t *testing.T) {
		s := load(t, capConfig(t, sqlGrant(t)))
		err := s.Update(ctx, host.UpdateRequest{Project: "other", TablesToKeep: updateP.TablesToKeep})
		if !errors.Is(err, abi.ErrPermissionDenied) || !strings.Contains(err.Error(), "outside the granted prefix p_") {
			t.Fatalf("DDL outside the prefix: %v", err)
		}
	})
}

func TestPhaseScoping(t *testing.T) {
	ctx := context.Background()
	t.Run("DDL during serve", func(t *testing.T) {
		s := load(t, capConfig(t, sqlGrant(t)))
		_, err := s.Read(ctx, readReq("probe_ddl", key1))
		if !errors.Is(err, abi.ErrPermissionDenied) || !strings.Contains(err.Error(), "only during apply and teardown, not during serve") {
			t.Fatalf("DDL in serve: %v", err)
		}
	})
	t.Run("grant for serve only", func(t *testing.T) {
		s := load(t, capConfig(t, sqlGrant(t, "serve")))
		err := s.Update(ctx, updateP)
		if !errors.Is(err, abi.ErrPermissionDenied) {
			t.Fatalf("update with a serve-only grant: %v", err)
		}
	})
	t.Run("bad phase name", func(t *testing.T) {
		_, err := host.LoadOnlineStore(ctx, capConfig(t, sqlGrant(t, "lunch")))
		if err == nil || !strings.Contains(err.Error(), `unknown phase "lunch"`) {
			t.Fatalf("err = %v", err)
		}
	})
}

// captureHandler records log records for TestLogsAndClocks.
type captureHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r)
	h.mu.Unlock()
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

func TestLogsAndClocks(t *testing.T) {
	h := &captureHandler{}
	cfg := capConfig(t, sqlGrant(t))
	cfg.Logger = slog.New(h)
	s := load(t, cfg)
	_, err := s.Read(context.Background(), readReq("probe_clock", key1))
	var se *host.PluginStatusError
	if !errors.As(err, &se) || se.Status != abi.StatusUnimplemented {
		t.Fatalf("err = %v", err)
	}
	var now, remaining int64
	if _, err := fmt.Sscanf(se.Message, "now=%d remaining=%d", &now, &remaining); err != nil {
		t.Fatalf("message %q: %v", se.Message, err)
	}
	if d := time.Since(time.UnixMicro(now)); d < 0 || d > time.Minute {
		t.Errorf("now_unix_micros is %v off", d)
	}
	if remaining <= 0 || remaining > cfg.Limits.CallTimeout.Microseconds() {
		t.Errorf("deadline_remaining_micros = %d, want within (0, %d]", remaining, cfg.Limits.CallTimeout.Microseconds())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var sawLog, sawStdout bool
	for _, r := range h.recs {
		plugin := ""
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "plugin" {
				plugin = a.Value.String()
			}
			return true
		})
		if plugin != "capprobe" {
			continue
		}
		sawLog = sawLog || r.Level == slog.LevelInfo && strings.HasPrefix(r.Message, "now=")
		sawStdout = sawStdout || strings.HasPrefix(r.Message, "stdout: now=")
	}
	if !sawLog || !sawStdout {
		t.Errorf("log host function seen: %v, stdout seen: %v (records: %d)", sawLog, sawStdout, len(h.recs))
	}
}

func TestCanceledCaller(t *testing.T) {
	cfg := testConfig(t, "echo")
	cfg.Pool = host.PoolConfig{Min: 1, Max: 1}
	s := load(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Read(ctx, readReq("p", key1))
	if host.FaultClass(err) != host.FaultCanceled {
		t.Fatalf("err = %v, want canceled", err)
	}
	roundTrip(t, s, "p")
	if h := s.Health(); h.Discarded != 0 || !h.Healthy() {
		t.Errorf("a canceled caller cost an instance or health: %+v", h)
	}
}
