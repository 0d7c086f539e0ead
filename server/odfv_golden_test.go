package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/host/hosttest"
	"github.com/larder-dev/larder/host/registry"
	"github.com/larder-dev/larder/host/repo"
)

// odfvQuickstartRepo is Feast's quickstart repo with its pandas transformed_conv_rate
// replaced by the same function compiled to Wasm (plugins/odfv_conv_rate_<lang>): the
// registry keeps everything else Feast wrote.
func odfvQuickstartRepo(t testing.TB, plugin string) string {
	t.Helper()
	module, err := hosttest.BuildPlugin(plugin)
	if errors.Is(err, hosttest.ErrNoToolchain) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	return wasmODFVRepo(t, body, plugin+".wasm", "transformed_conv_rate")
}

// wasmODFVRepo is Feast's quickstart repo with transformed_conv_rate's transformation
// replaced by function of the Wasm module body, named module.
func wasmODFVRepo(t testing.TB, body []byte, module, function string) string {
	t.Helper()
	dir := quickstartRepo(t)
	st := registry.NewFileStore(filepath.Join(dir, "data", "registry.db"))
	reg, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	text, _ := json.Marshal(repo.WasmUDF{Module: module, SHA256: hex.EncodeToString(sum[:]), Function: function})
	found := false
	for _, o := range reg.OnDemandFeatureViews {
		if o.Spec != nil && o.Spec.Name == "transformed_conv_rate" {
			o.Spec.Mode = repo.ModeWasm
			o.Spec.FeatureTransformation = &registry.FeatureTransformation{UserDefinedFunction: &registry.UserDefinedFunction{
				Name: "transformed_conv_rate", Body: body, BodyText: string(text), Mode: repo.ModeWasm}}
			found = true
		}
	}
	if !found {
		t.Fatal("Feast's registry has no transformed_conv_rate")
	}
	if err := st.Save(reg); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestFeastODFVGoldenResponses replays Feast's recorded requests that involve the
// quickstart's on-demand feature view (directly, through feature services, with a missing
// entity, without request data) against the Wasm ODFV in Rust and in Go: statuses must
// equal Feast's, responses must have Feast's values column by column, and be
// byte-identical when the column order agrees.
func TestFeastODFVGoldenResponses(t *testing.T) {
	var cases []feastCase
	for _, c := range loadFeastCases(t) {
		if strings.Contains(c.RequestRaw, "transformed_conv_rate") || strings.Contains(c.RequestRaw, `"driver_activity_v1"`) {
			cases = append(cases, c)
		}
	}
	if len(cases) < 5 {
		t.Fatalf("only %d ODFV cases in the fixtures", len(cases))
	}
	for _, plugin := range []string{"odfv_conv_rate_rust", "odfv_conv_rate_go"} {
		t.Run(plugin, func(t *testing.T) {
			fs := openStore(t, odfvQuickstartRepo(t, plugin), fixtureNow)
			h := New(fs, Options{Now: func() time.Time { return fixtureNow }}).Handler()
			identical := 0
			for _, c := range cases {
				got := do(h, c.Method, c.Endpoint, c.RequestRaw)
				if got.status != c.Status {
					t.Errorf("%s: status %d, Feast %d: %s", c.Name, got.status, c.Status, got.body)
					continue
				}
				if got.status >= 400 {
					checkErrorBody(t, c.Name, got)
					if c.Name == "err-missing-request-data" && !bytes.Contains(got.body, []byte(`val_to_add`)) {
						t.Errorf("%s: the error does not name the missing fields: %s", c.Name, got.body)
					}
					continue
				}
				if compareColumns(t, c.Name, got.body, c.Response) {
					if !bytes.Equal(got.body, []byte(c.ResponseRaw)) {
						t.Errorf("%s: same columns in the same order, but the bytes differ:\n got %s\nwant %s", c.Name, got.body, c.ResponseRaw)
					} else {
						identical++
					}
				}
			}
			t.Logf("%d ODFV cases replayed, %d responses byte-identical to Feast's", len(cases), identical)
		})
	}
}
