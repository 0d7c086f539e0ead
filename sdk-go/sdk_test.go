package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/larder-dev/larder/abi"
)

// echoStore is the online store registered by this test binary: Read answers every row
// whose entity key starts with "hit" with the value "<key>/<feature>" at ts = row index,
// and Write remembers what it saw.
type echoStore struct {
	config  string
	updates []UpdateRequest
	writes  []string
	failing error
}

var lastStore *echoStore

func init() {
	RegisterOnlineStore(Plugin{ID: "echo", Version: "1.2.3",
		Capabilities: []Capability{{Kind: CapSQL, Name: "online", Phases: []string{abi.PhaseServe}}}},
		func() OnlineStore { lastStore = &echoStore{}; return lastStore })
}

func (s *echoStore) Init(config []byte) error {
	s.config = string(config)
	return s.failing
}
func (s *echoStore) Update(req UpdateRequest) error {
	s.updates = append(s.updates, req)
	return s.failing
}
func (s *echoStore) Teardown(req UpdateRequest) error {
	s.updates = append(s.updates, req)
	return s.failing
}

func (s *echoStore) Write(b *WriteBatch) error {
	for i := 0; i < b.Len(); i++ {
		created, ok := b.CreatedTime(i)
		line := fmt.Sprintf("%s/%s %s ts=%d created=%d,%v", b.Project, b.View, b.EntityKey(i), b.EventTime(i), created, ok)
		for f, name := range b.Features {
			v, ok := b.Value(i, f)
			line += fmt.Sprintf(" %s=%s,%v", name, v, ok)
		}
		s.writes = append(s.writes, line)
	}
	return s.failing
}

func (s *echoStore) Read(b *ReadBatch, resp *ReadResponse) error {
	if b.Views[0].Name == "append" {
		return s.readAppend(b, resp)
	}
	for i := 0; i < b.Len(); i++ {
		k := b.EntityKey(i)
		if !bytes.HasPrefix(k, []byte("hit")) {
			continue
		}
		for f, name := range b.Views[b.View(i)].Features {
			resp.Set(i, f, []byte(string(k)+"/"+name), int64(i))
		}
	}
	return s.failing
}

// readAppend answers like Read, run by run with Append.
func (s *echoStore) readAppend(b *ReadBatch, resp *ReadResponse) error {
	for _, run := range b.Runs() {
		feats := b.Views[run.View].Features
		v := abi.NewColumnBuilder("v", abi.TypeBytes, 0)
		ts := abi.NewColumnBuilder("ts", abi.TypeUnixTimestamp, 0)
		for i := run.Start; i < run.End; i++ {
			k := b.EntityKey(i)
			for _, name := range feats {
				if bytes.HasPrefix(k, []byte("hit")) {
					v.AppendBytes([]byte(string(k) + "/" + name))
					ts.AppendTimestamp(int64(i))
				} else {
					v.AppendNull()
					ts.AppendNull()
				}
			}
		}
		vc, tc := v.Column(), ts.Column()
		if err := resp.Append(v.Len(), &vc, &tc); err != nil {
			return err
		}
	}
	return s.failing
}

func newInitialized(t *testing.T) *instance {
	t.Helper()
	in := newInstance()
	if st := in.Call(abi.ExportInit, []byte(`{"a":1}`)); st != abi.StatusOK {
		t.Fatalf("init: %s: %s", st, in.LastError())
	}
	return in
}

func TestManifest(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal(newInstance().Describe(), &m); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(m["id"], " ", m["kind"], " ", m["version"], " ", m["sdk"], " ", m["capabilities"])
	want := "echo online_store 1.2.3 sdk-go/" + Version + " [map[kind:sql name:online phases:[serve]]]"
	if got != want {
		t.Errorf("manifest %s\n got %s\nwant %s", newInstance().Describe(), got, want)
	}
}

func TestCallsBeforeInitFail(t *testing.T) {
	in := newInstance()
	if st := in.Call(abi.ExportOnlineUpdate, []byte(`{}`)); st != abi.StatusInternal {
		t.Errorf("update before init: %s, want INTERNAL", st)
	}
	if !strings.Contains(string(in.LastError()), "before larder_init") {
		t.Errorf("message %q does not say why", in.LastError())
	}
	if st := in.Call(abi.ExportInit, []byte(`{not json`)); st != abi.StatusBadArgument {
		t.Errorf("init with bad JSON: %s, want BAD_ARGUMENT", st)
	}
}

func TestUpdate(t *testing.T) {
	in := newInitialized(t)
	if lastStore.config != `{"a":1}` {
		t.Errorf("Init got config %q", lastStore.config)
	}
	req := `{"project":"p","tables_to_keep":[{"name":"v","features":["f"],"join_keys":["id"]}],"tables_to_delete":[]}`
	if st := in.Call(abi.ExportOnlineUpdate, []byte(req)); st != abi.StatusOK {
		t.Fatalf("update: %s %s", st, in.LastError())
	}
	if got := fmt.Sprint(lastStore.updates); got != "[{p [{v [f] [id]}] []}]" {
		t.Errorf("Update got %s", got)
	}
	if st := in.Call(abi.ExportOnlineTeardown, []byte(`[1]`)); st != abi.StatusBadArgument {
		t.Errorf("teardown with a JSON array: %s, want BAD_ARGUMENT", st)
	}
}

func TestErrorStatusFromPlugin(t *testing.T) {
	in := newInitialized(t)
	for _, c := range []struct {
		err  error
		want abi.Status
	}{
		{Errorf(abi.ErrConflict, "table %q changed", "t"), abi.StatusConflict},
		{Errorf(abi.ErrUnavailable, "wrapped: %w", errors.New("io")), abi.StatusUnavailable},
		{fmt.Errorf("outer: %w", Errorf(abi.ErrNotFound, "inner")), abi.StatusNotFound},
		{errors.New("plain"), abi.StatusInternal},
	} {
		lastStore.failing = c.err
		if st := in.Call(abi.ExportOnlineUpdate, []byte(`{"project":"p"}`)); st != c.want {
			t.Errorf("%v: status %s, want %s", c.err, st, c.want)
		}
		if string(in.LastError()) != c.err.Error() {
			t.Errorf("last error %q, want %q", in.LastError(), c.err.Error())
		}
	}
	lastStore.failing = nil
}

func writeBatch(t testing.TB, meta string, withCreated bool) []byte {
	keys := abi.NewColumnBuilder(abi.ColEntityKey, abi.TypeBytes, 2)
	ts := abi.NewColumnBuilder(abi.ColEventTS, abi.TypeUnixTimestamp, 2)
	created := abi.NewColumnBuilder(abi.ColCreatedTS, abi.TypeUnixTimestamp, 2)
	a := abi.NewColumnBuilder("a", abi.TypeBytes, 2)
	b := abi.NewColumnBuilder("b", abi.TypeBytes, 2)
	keys.AppendBytes([]byte("k1"))
	keys.AppendBytes([]byte("k2"))
	ts.AppendTimestamp(10)
	ts.AppendTimestamp(20)
	created.AppendTimestamp(11)
	created.AppendNull()
	a.AppendBytes([]byte("a1"))
	a.AppendNull()
	b.AppendBytes([]byte("b1"))
	b.AppendBytes([]byte("b2"))
	cols := []abi.Column{keys.Column(), ts.Column()}
	if withCreated {
		cols = append(cols, created.Column())
	}
	cols = append(cols, a.Column(), b.Column())
	out, err := (&abi.Batch{Rows: 2, Metadata: []byte(meta), Columns: cols}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWrite(t *testing.T) {
	in := newInitialized(t)
	meta := `{"project":"p","view":"v","features":["b","a"]}`
	for round := 0; round < 2; round++ { // the second round hits the metadata cache
		lastStore.writes = nil
		if st := in.Call(abi.ExportOnlineWrite, writeBatch(t, meta, true)); st != abi.StatusOK {
			t.Fatalf("write: %s %s", st, in.LastError())
		}
		want := "[p/v k1 ts=10 created=11,true b=b1,true a=a1,true p/v k2 ts=20 created=0,false b=b2,true a=,false]"
		if got := fmt.Sprint(lastStore.writes); got != want {
			t.Errorf("round %d: Write saw\n%s\nwant\n%s", round, got, want)
		}
	}
	// No __created_ts column at all is fine.
	lastStore.writes = nil
	if st := in.Call(abi.ExportOnlineWrite, writeBatch(t, meta, false)); st != abi.StatusOK {
		t.Fatalf("write without __created_ts: %s %s", st, in.LastError())
	}
	for _, c := range []struct{ name, meta string }{
		{"feature without a column", `{"project":"p","view":"v","features":["a","zz"]}`},
		{"no view", `{"project":"p","features":["a"]}`},
		{"metadata not JSON", `{"project":`},
	} {
		if st := in.Call(abi.ExportOnlineWrite, writeBatch(t, c.meta, true)); st != abi.StatusBadArgument {
			t.Errorf("%s: status %s (%s), want BAD_ARGUMENT", c.name, st, in.LastError())
		}
	}
	if st := in.Call(abi.ExportOnlineWrite, []byte("LBF1 garbage")); st != abi.StatusSerializationFailure {
		t.Errorf("garbage batch: status %s, want SERIALIZATION_FAILURE", st)
	}
}

func readBatch(t testing.TB, meta string, views []int32, keys []string) []byte {
	vc := abi.NewColumnBuilder(abi.ColView, abi.TypeInt32, len(views))
	kc := abi.NewColumnBuilder(abi.ColEntityKey, abi.TypeBytes, len(keys))
	for i := range views {
		vc.AppendInt32(views[i])
		kc.AppendBytes([]byte(keys[i]))
	}
	out, err := (&abi.Batch{Rows: len(views), Metadata: []byte(meta), Columns: []abi.Column{vc.Column(), kc.Column()}}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRead(t *testing.T) {
	for _, first := range []string{"v1", "append"} { // Set, then Append
		testRead(t, first)
	}
}

func testRead(t *testing.T, firstView string) {
	in := newInitialized(t)
	meta := `{"project":"p","views":[{"name":"` + firstView + `","features":["a","b"]},{"name":"v2","features":["c"]}]}`
	req := readBatch(t, meta, []int32{0, 1, 0, 1}, []string{"hit1", "miss", "miss", "hit2"})
	if st := in.Call(abi.ExportOnlineRead, req); st != abi.StatusOK {
		t.Fatalf("read: %s %s", st, in.LastError())
	}
	b, err := abi.Decode(in.Result())
	if err != nil {
		t.Fatal(err)
	}
	vals, ts, st := b.Column(abi.ColValue), b.Column(abi.ColEventTS), b.Column(abi.ColStatus)
	var got []string
	for i := 0; i < b.Rows; i++ {
		if st.Status(i) == abi.FieldNotFound {
			got = append(got, fmt.Sprintf("NOT_FOUND(null=%v,%v)", vals.IsNull(i), ts.IsNull(i)))
			continue
		}
		got = append(got, fmt.Sprintf("%s@%d", vals.Bytes(i), ts.Timestamp(i)))
	}
	want := "[hit1/a@0 hit1/b@0 NOT_FOUND(null=true,true) NOT_FOUND(null=true,true) NOT_FOUND(null=true,true) hit2/c@3]"
	if fmt.Sprint(got) != want {
		t.Errorf("read response\n got %v\nwant %s", got, want)
	}

	if firstView != "v1" {
		return
	}
	bad := readBatch(t, meta, []int32{0, 2}, []string{"hit", "hit"})
	if st := in.Call(abi.ExportOnlineRead, bad); st != abi.StatusBadArgument {
		t.Errorf("view index out of range: %s, want BAD_ARGUMENT", st)
	}
	if len(in.Result()) != 0 {
		t.Errorf("a failed read left %d result bytes", len(in.Result()))
	}
}

func TestReadResponseSetPanicsOutOfRange(t *testing.T) {
	var r ReadResponse
	b := &ReadBatch{Views: []ReadView{{Features: []string{"a"}}}, rows: 1,
		views: &abi.Column{Type: abi.TypeInt32, Values: make([]byte, 4)}}
	r.reset(b)
	defer func() {
		if recover() == nil {
			t.Error("Set with a feature index past the view's features did not panic")
		}
	}()
	r.Set(0, 1, nil, 0)
}

func TestParamsBatch(t *testing.T) {
	var p Params
	p.Reset()
	p.Bytes([]byte("blob"))
	p.String("text")
	p.Int64(-7)
	p.Float64(2.5)
	p.Bool(true)
	p.Null()
	p.Bytes(nil)
	meta := appendJSONString(nil, "x")
	out, err := paramsBatch(&p, meta).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := abi.Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	if b.Rows != 1 || len(b.Columns) != 7 {
		t.Fatalf("rows %d columns %d, want 1 and 7", b.Rows, len(b.Columns))
	}
	c := b.Columns
	got := fmt.Sprintf("%s %s %s %d %g %v %v %q", c[0].Name, c[0].Bytes(0), c[1].Bytes(0), c[2].Int64(0),
		c[3].Float64(0), c[4].Bool(0), c[5].IsNull(0), c[6].Bytes(0))
	if want := `p1 blob text -7 2.5 true true ""`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	p.Reset()
	if b := paramsBatch(&p, nil); b.Rows != 0 || len(b.Columns) != 0 {
		t.Errorf("empty params: %d rows %d columns", b.Rows, len(b.Columns))
	}
	if err := p.Any(struct{}{}); err == nil {
		t.Error("Any accepted a struct")
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", `SELECT "a" FROM t WHERE x = 'y'`, "tab\there\nnl\r\x00\x1f\\", "héllo ☃"} {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil || back != s {
			t.Errorf("%q: round trip gave %q, %v", s, back, err)
		}
	}
}

func TestExecArgs(t *testing.T) {
	a := NewExecArgs(abi.TypeBytes, abi.TypeInt64)
	a.Col(0).AppendBytes([]byte("x"))
	if _, err := a.rows(); err == nil {
		t.Error("columns of different lengths were accepted")
	}
	a.Col(1).AppendInt64(1)
	if n, err := a.rows(); err != nil || n != 1 {
		t.Errorf("rows = %d, %v", n, err)
	}
	a.Reset()
	if a.Len() != 0 {
		t.Error("Reset kept rows")
	}
	a.Reset(abi.TypeString)
	if a.Col(0).Type() != abi.TypeString || len(a.cols) != 1 {
		t.Error("Reset with types did not redefine the columns")
	}
}

// FuzzOnlineExports feeds arbitrary bytes to every online export: the SDK must never panic
// on untrusted input, and an OK read must produce a well-formed response.
func FuzzOnlineExports(f *testing.F) {
	meta := `{"project":"p","views":[{"name":"v1","features":["a","b"]}]}`
	f.Add(uint8(3), readBatch(f, meta, []int32{0, 0}, []string{"hit", "x"}))
	f.Add(uint8(2), writeBatch(f, `{"project":"p","view":"v","features":["a","b"]}`, true))
	f.Add(uint8(0), []byte(`{"project":"p","tables_to_keep":[{"name":"v"}]}`))
	exports := []string{abi.ExportOnlineUpdate, abi.ExportOnlineTeardown, abi.ExportOnlineWrite, abi.ExportOnlineRead}
	in := newInstance()
	if st := in.Call(abi.ExportInit, nil); st != abi.StatusOK {
		f.Fatalf("init: %s", st)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		export := exports[int(which)%len(exports)]
		st := in.Call(export, data)
		if st != abi.StatusOK && len(in.LastError()) == 0 {
			t.Errorf("%s: status %s without a message", export, st)
		}
		if st == abi.StatusOK && export == abi.ExportOnlineRead {
			if _, err := abi.Decode(in.Result()); err != nil {
				t.Errorf("read response does not decode: %v", err)
			}
		}
	})
}
