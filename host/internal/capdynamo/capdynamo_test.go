package capdynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
)

// endpoint returns LARDER_DYNAMODB_ENDPOINT or skips: `make test` (scripts/services.sh)
// always starts dynalite and sets it; the tests skip only when run by hand without it.
func endpoint(t testing.TB) string {
	t.Helper()
	e := os.Getenv("LARDER_DYNAMODB_ENDPOINT")
	if e == "" {
		t.Skip("LARDER_DYNAMODB_ENDPOINT is not set: run scripts/services.sh start (make test does) to test against dynalite")
	}
	return e
}

func open(t testing.TB, o Options) caps.Session {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := p.Open()
	return s
}

func call(t testing.TB, s caps.Session, op uint32, phase caps.Phase, req string) (map[string]any, abi.Status, string) {
	t.Helper()
	resp, st := s.Call(context.Background(), op, phase, []byte(req))
	if st != abi.StatusOK {
		return nil, st, string(resp)
	}
	var out map[string]any
	if err := json.Unmarshal(resp, &out); err != nil {
		t.Fatalf("response %s: %v", resp, err)
	}
	return out, st, ""
}

func must(t testing.TB, s caps.Session, op uint32, phase caps.Phase, req string) map[string]any {
	t.Helper()
	out, st, msg := call(t, s, op, phase, req)
	if st != abi.StatusOK {
		t.Fatalf("op %d: %s %s", op, st, msg)
	}
	return out
}

func TestItemsRoundTrip(t *testing.T) {
	ns := fmt.Sprintf("t%d_", time.Now().UnixNano())
	s := open(t, Options{Endpoint: endpoint(t), Namespace: ns, TablePrefix: "proj."})
	must(t, s, OpCreateTable, caps.PhaseApply, `{"table":"proj.fv","key":"entity_id"}`)
	out := must(t, s, OpCreateTable, caps.PhaseApply, `{"table":"proj.fv","key":"entity_id"}`)
	if out["created"] != false {
		t.Fatalf("second create: %v", out)
	}
	// 60 items, one key twice (the later wins), with every attribute shape.
	var items []string
	for i := 0; i < 60; i++ {
		items = append(items, fmt.Sprintf(`{"entity_id":{"S":"k%d"},"event_ts":{"S":"2021-04-12 10:59:42+00:00"},"values":{"M":{"f":{"B":"AQID"},"n":{"N":"%d"}}}}`, i, i))
	}
	items = append(items, `{"entity_id":{"S":"k5"},"values":{"M":{"f":{"B":""},"l":{"L":[{"BOOL":true},{"NULL":true},{"SS":["a"]}]}}}}`)
	out = must(t, s, OpPutItems, caps.PhaseServe, `{"table":"proj.fv","key":"entity_id","items":[`+strings.Join(items, ",")+`]}`)
	if out["written"] != float64(61) {
		t.Fatalf("put: %v", out)
	}
	keys := []string{`{"S":"k5"}`, `{"S":"missing"}`, `{"S":"k0"}`, `{"S":"k5"}`}
	for i := 10; i < 130; i++ { // more than one BatchGetItem
		keys = append(keys, fmt.Sprintf(`{"S":"k%d"}`, i))
	}
	out = must(t, s, OpGetItems, caps.PhaseServe, `{"table":"proj.fv","key":"entity_id","keys":[`+strings.Join(keys, ",")+`]}`)
	got := out["items"].([]any)
	if len(got) != len(keys) {
		t.Fatalf("%d items for %d keys", len(got), len(keys))
	}
	k5, _ := json.Marshal(got[0])
	if string(k5) != `{"entity_id":{"S":"k5"},"values":{"M":{"f":{"B":""},"l":{"L":[{"BOOL":true},{"NULL":true},{"SS":["a"]}]}}}}` {
		t.Errorf("k5 = %s", k5)
	}
	if got[1] != nil || got[3] == nil || got[4] == nil || got[len(got)-1] != nil {
		t.Errorf("missing/duplicate/order wrong: %v %v %v", got[1], got[3], got[len(got)-1])
	}
	k0, _ := json.Marshal(got[2])
	if !strings.Contains(string(k0), `"f":{"B":"AQID"}`) || !strings.Contains(string(k0), `"n":{"N":"0"}`) {
		t.Errorf("k0 = %s", k0)
	}
	// Refusals.
	for _, c := range []struct {
		op    uint32
		phase caps.Phase
		req   string
		want  abi.Status
	}{
		{OpCreateTable, caps.PhaseServe, `{"table":"proj.x","key":"id"}`, abi.StatusPermissionDenied},
		{OpGetItems, caps.PhaseServe, `{"table":"other.fv","key":"entity_id","keys":[]}`, abi.StatusPermissionDenied},
		{OpGetItems, caps.PhaseServe, `{"table":"proj.fv","key":"entity_id","keys":[{"X":"1"}]}`, abi.StatusBadArgument},
		{OpGetItems, caps.PhaseServe, `{"table":"proj.nope","key":"entity_id","keys":[{"S":"a"}]}`, abi.StatusNotFound},
		{OpPutItems, caps.PhaseServe, `{"table":"proj.fv","key":"entity_id","items":[{"other":{"S":"a"}}]}`, abi.StatusBadArgument},
		{9, caps.PhaseServe, `{}`, abi.StatusBadArgument},
		{OpGetItems, caps.PhaseServe, `not json`, abi.StatusSerializationFailure},
	} {
		if _, st, msg := call(t, s, c.op, c.phase, c.req); st != c.want {
			t.Errorf("op %d %s: %s %s, want %s", c.op, c.req, st, msg, c.want)
		}
	}
	must(t, s, OpDeleteTable, caps.PhaseTeardown, `{"table":"proj.fv"}`)
	out = must(t, s, OpDeleteTable, caps.PhaseTeardown, `{"table":"proj.fv"}`)
	if out["deleted"] != false {
		t.Fatalf("second delete: %v", out)
	}
}

func TestServerDownIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := open(t, Options{Endpoint: "http://" + addr})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, st := s.Call(ctx, OpGetItems, caps.PhaseServe, []byte(`{"table":"t","key":"k","keys":[{"S":"a"}]}`))
	if st != abi.StatusUnavailable {
		t.Fatalf("got %s %s, want UNAVAILABLE", st, resp)
	}
}

func FuzzDecodeAttr(f *testing.F) {
	f.Add([]byte(`{"M":{"a":{"L":[{"S":"x"},{"B":"AA=="},{"N":"1e3"}]}}}`))
	f.Add([]byte(`{"entity_id":{"S":"k"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		av, err := decodeAttr(b, 0)
		if err != nil {
			return
		}
		// What decodes encodes and decodes to the same JSON.
		out := appendAttr(nil, av)
		av2, err := decodeAttr(out, 1)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		if out2 := appendAttr(nil, av2); string(out2) != string(out) {
			t.Fatalf("%s != %s", out2, out)
		}
	})
}
