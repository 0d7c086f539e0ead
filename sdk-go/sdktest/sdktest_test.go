package sdktest_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	sdk "github.com/larder-dev/larder/sdk-go"
	"github.com/larder-dev/larder/sdk-go/sdktest"
)

// probe is a small online store that exercises the mock host: Update runs DDL, Write runs
// DDL in the serve phase (which the host must refuse), Read panics on request, and Init uses
// a capability it was not granted when asked to.
type probe struct{ db, other *sdk.SQLClient }

func init() {
	sdk.RegisterOnlineStore(sdk.Plugin{ID: "probe", Version: "0.0.1", Capabilities: []sdk.Capability{
		{Kind: sdk.CapSQL, Name: "db", Phases: []string{abi.PhaseApply, abi.PhaseServe}},
		{Kind: sdk.CapSQL, Name: "other", Phases: []string{abi.PhaseServe}},
	}}, func() sdk.OnlineStore { return &probe{db: sdk.SQL("db"), other: sdk.SQL("other")} })
}

func (p *probe) Init(config []byte) error {
	if string(config) == `{"use_other":true}` {
		_, err := p.other.Query("SELECT 1 AS x", []abi.Type{abi.TypeInt64})
		return err
	}
	return nil
}

func (p *probe) Update(req sdk.UpdateRequest) error {
	sdk.Log(sdk.LevelInfo, "creating "+req.Project)
	return p.db.DDL(`CREATE TABLE IF NOT EXISTS "` + req.Project + `" (k BLOB PRIMARY KEY, v INTEGER)`)
}

func (p *probe) Teardown(req sdk.UpdateRequest) error {
	return p.db.DDL(`DROP TABLE "` + req.Project + `"`)
}

func (p *probe) Write(b *sdk.WriteBatch) error {
	if b.View == "ddl" {
		return p.db.DDL(`DROP TABLE "` + b.Project + `"`)
	}
	n, err := p.db.Exec(`INSERT INTO "`+b.Project+`" (k, v) VALUES (?, ?)`, [][]any{{b.EntityKey(0), 1}, {[]byte("z"), nil}})
	if err == nil && n != 2 {
		return sdk.Errorf(abi.ErrInternal, "inserted %d rows, want 2", n)
	}
	return err
}

func (p *probe) Read(b *sdk.ReadBatch, resp *sdk.ReadResponse) error {
	if b.Views[0].Name == "panic" {
		panic("probe was asked to panic")
	}
	res, err := p.db.Query(`SELECT k, v FROM "`+b.Project+`" WHERE k = ?`, []abi.Type{abi.TypeBytes, abi.TypeInt64}, b.EntityKey(0))
	if err != nil {
		return err
	}
	if res.Rows == 1 {
		resp.Set(0, 0, res.Columns[0].Bytes(0), res.Columns[1].Int64(0))
	}
	return nil
}

var ctx = context.Background()

func open(t *testing.T, opts sdktest.Options) host.OnlineStore {
	if opts.SQL == nil {
		opts.SQL = map[string]string{"db": filepath.Join(t.TempDir(), "db.sqlite")}
	}
	return sdktest.NativeOnlineStore(t, opts)
}

func TestNativeRoundTrip(t *testing.T) {
	s := open(t, sdktest.Options{})
	if err := s.Update(ctx, host.UpdateRequest{Project: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, host.WriteRequest{Project: "t", View: "v", Rows: []host.WriteRow{{EntityKey: []byte("k")}}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Read(ctx, host.ReadRequest{Project: "t", Views: []host.ReadView{{Name: "v", Features: []string{"f"}, EntityKeys: [][]byte{[]byte("k")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if fv := res.Views[0][0]; fv.Status != abi.FieldPresent || string(fv.Value) != "k" || fv.EventTS.UnixMicro() != 1 {
		t.Errorf("got %+v", fv)
	}
}

func TestHostRulesAreEnforced(t *testing.T) {
	s := open(t, sdktest.Options{})
	if err := s.Update(ctx, host.UpdateRequest{Project: "t"}); err != nil {
		t.Fatal(err)
	}
	err := s.Write(ctx, host.WriteRequest{Project: "t", View: "ddl", Rows: []host.WriteRow{{EntityKey: []byte("k")}}})
	if !errors.Is(err, abi.ErrPermissionDenied) || !strings.Contains(err.Error(), "DDL") {
		t.Errorf("DDL while serving: %v, want PERMISSION_DENIED naming DDL", err)
	}
	// Teardown is not among the phases the probe asked for.
	err = s.Teardown(ctx, host.UpdateRequest{Project: "t"})
	if !errors.Is(err, abi.ErrPermissionDenied) || !strings.Contains(err.Error(), "teardown") {
		t.Errorf("capability outside its phases: %v, want PERMISSION_DENIED naming the phase", err)
	}
	err = s.Write(ctx, host.WriteRequest{Project: "t", View: "v", Rows: []host.WriteRow{{EntityKey: []byte("k")}}, Features: []string{"f"}})
	if !errors.Is(err, abi.ErrBadArgument) {
		t.Errorf("row with fewer values than features: %v, want BAD_ARGUMENT", err)
	}
}

func TestUngrantedCapabilityIsDenied(t *testing.T) {
	ft := &fatalT{T: t}
	func() {
		defer func() { recover() }()
		sdktest.NativeOnlineStore(ft, sdktest.Options{Config: []byte(`{"use_other":true}`)})
	}()
	if !strings.Contains(ft.msg, "PERMISSION_DENIED") && !strings.Contains(ft.msg, "not granted") {
		t.Errorf("using an ungranted capability: %q, want a permission error", ft.msg)
	}
	ft = &fatalT{T: t}
	func() {
		defer func() { recover() }()
		sdktest.NativeOnlineStore(ft, sdktest.Options{SQL: map[string]string{"nope": "x.db"}})
	}()
	if !strings.Contains(ft.msg, `"nope"`) {
		t.Errorf("binding a capability the plugin does not request: %q, want an error naming it", ft.msg)
	}
}

func TestPanicBecomesError(t *testing.T) {
	s := open(t, sdktest.Options{})
	_, err := s.Read(ctx, host.ReadRequest{Project: "t", Views: []host.ReadView{{Name: "panic", Features: []string{"f"}, EntityKeys: [][]byte{[]byte("k")}}}})
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("a panicking plugin: %v, want an error saying it panicked", err)
	}
}

// fatalT captures Fatalf instead of ending the test.
type fatalT struct {
	*testing.T
	msg string
}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic("fatal")
}
