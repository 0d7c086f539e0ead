package registry

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/host/feast"
)

const (
	fixtureDB        = "testdata/feast-0.67.0/registry.db"
	fixtureCanonical = "testdata/feast-0.67.0/registry.canonical.pb"
)

func loadFixture(t testing.TB) *Registry {
	t.Helper()
	r, err := NewFileStore(fixtureDB).Load()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func names[T any](l []T, name func(T) string) []string {
	var out []string
	for _, e := range l {
		out = append(out, name(e))
	}
	sort.Strings(out)
	return out
}

// The registry `feast apply` (Feast 0.67.0) wrote for the quickstart repo of `feast init`.
func TestFeastFixtureContents(t *testing.T) {
	r := loadFixture(t)
	const p = "quickstart"
	if r.RegistrySchemaVersion != "1" || r.LastUpdated == nil ||
		!regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(r.VersionID) {
		t.Errorf("header: schema %q, version %q, last updated %v", r.RegistrySchemaVersion, r.VersionID, r.LastUpdated)
	}
	if got := r.ProjectNames(); !reflect.DeepEqual(got, []string{p}) {
		t.Errorf("projects = %v", got)
	}
	if len(r.Projects) != 1 || r.Projects[0].Spec.Description != "A project for driver statistics" {
		t.Errorf("project = %+v", r.Projects)
	}

	if got := names(r.Entities, func(e *Entity) string { return e.Spec.Name + "/" + e.Spec.JoinKey }); !reflect.DeepEqual(got, []string{"__dummy/__dummy_id", "driver/driver_id"}) {
		t.Errorf("entities = %v", got)
	}

	fv, ok := r.FeatureView(p, "driver_hourly_stats")
	if !ok {
		t.Fatal("driver_hourly_stats missing")
	}
	s := fv.Spec
	wantFeatures := []string{"conv_rate:FLOAT", "acc_rate:FLOAT", "avg_daily_trips:INT64", "driver_metadata:MAP", "driver_config:JSON", "driver_profile:STRUCT"}
	var gotFeatures []string
	for _, f := range s.Features {
		gotFeatures = append(gotFeatures, f.Name+":"+f.ValueType.String())
	}
	if !reflect.DeepEqual(gotFeatures, wantFeatures) {
		t.Errorf("features = %v", gotFeatures)
	}
	if s.Features[2].Description != "Average daily trips" || s.Features[5].Tags["feast:struct_schema"] == "" {
		t.Errorf("feature details lost: %+v %+v", s.Features[2], s.Features[5])
	}
	if !reflect.DeepEqual(s.Entities, []string{"driver"}) || len(s.EntityColumns) != 1 ||
		s.EntityColumns[0].Name != "driver_id" || s.EntityColumns[0].ValueType != feast.TypeInt64 {
		t.Errorf("entities %v, entity columns %+v", s.Entities, s.EntityColumns)
	}
	if s.TTL.Std() != 24*time.Hour || !s.Online || !s.EnableValidation || s.Tags["team"] != "driver_performance" || s.Version != "latest" {
		t.Errorf("spec: ttl %v online %v validation %v tags %v version %q", s.TTL.Std(), s.Online, s.EnableValidation, s.Tags, s.Version)
	}
	bs := s.BatchSource
	if bs.Type != SourceBatchFile || bs.Name != "driver_hourly_stats_source" || bs.FileOptions.URI != "data/driver_stats.parquet" ||
		bs.TimestampField != "event_timestamp" || bs.CreatedTimestampColumn != "created" ||
		bs.DataSourceClassType != "feast.infra.offline_stores.file_source.FileSource" || bs.Meta.CreatedTimestamp == nil {
		t.Errorf("batch source = %+v", bs)
	}
	if fv.Meta.CreatedTimestamp == nil || len(fv.Meta.MaterializationIntervals) != 0 {
		t.Errorf("meta = %+v", fv.Meta)
	}

	fresh, ok := r.FeatureView(p, "driver_hourly_stats_fresh")
	if !ok {
		t.Fatal("driver_hourly_stats_fresh missing")
	}
	ss := fresh.Spec.StreamSource
	if ss == nil || ss.Type != SourcePush || ss.Name != "driver_stats_push_source" || ss.BatchSource == nil ||
		ss.BatchSource.FileOptions.URI != "data/driver_stats.parquet" {
		t.Errorf("stream source = %+v", ss)
	}

	odfv, ok := r.OnDemandFeatureView(p, "transformed_conv_rate")
	if !ok {
		t.Fatal("transformed_conv_rate missing")
	}
	os := odfv.Spec
	if got := sortedKeys(os.Sources); !reflect.DeepEqual(got, []string{"driver_hourly_stats", "vals_to_add"}) {
		t.Errorf("odfv sources = %v", got)
	}
	req := os.Sources["vals_to_add"].RequestDataSource
	if req == nil || req.Type != SourceRequest || len(req.RequestDataOptions.Schema) != 2 ||
		req.RequestDataOptions.Schema[0].Name != "val_to_add" || req.RequestDataOptions.Schema[0].ValueType != feast.TypeInt64 {
		t.Errorf("request source = %+v", req)
	}
	proj := os.Sources["driver_hourly_stats"].FeatureViewProjection
	if proj == nil || proj.FeatureViewName != "driver_hourly_stats" || len(proj.FeatureColumns) != 6 {
		t.Errorf("odfv projection = %+v", proj)
	}
	udf := os.FeatureTransformation.UserDefinedFunction
	if udf == nil || udf.Name != "transformed_conv_rate" || udf.Mode != "pandas" || len(udf.Body) == 0 ||
		!strings.Contains(udf.BodyText, "def transformed_conv_rate") || os.Mode != "pandas" {
		t.Errorf("odfv transformation: %+v mode %q", udf, os.Mode)
	}
	if len(os.Features) != 2 || os.Features[0].Name != "conv_rate_plus_val1" || os.Features[0].ValueType != feast.TypeDouble {
		t.Errorf("odfv features = %+v", os.Features)
	}

	v1, ok := r.FeatureService(p, "driver_activity_v1")
	if !ok {
		t.Fatal("driver_activity_v1 missing")
	}
	var projs []string
	for _, pr := range v1.Spec.Features {
		var cols []string
		for _, c := range pr.FeatureColumns {
			cols = append(cols, c.Name)
		}
		projs = append(projs, pr.NameToUse()+":"+strings.Join(cols, ","))
	}
	if want := []string{"driver_hourly_stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val1,conv_rate_plus_val2"}; !reflect.DeepEqual(projs, want) {
		t.Errorf("v1 projections = %v", projs)
	}
	if len(v1.Spec.unknown) != 1 || v1.Spec.unknown[0].num != 7 {
		t.Errorf("logging_config (field 7) not kept: %+v", v1.Spec.unknown)
	}
	if got := names(r.FeatureServices, func(s *FeatureService) string { return s.Spec.Name }); !reflect.DeepEqual(got, []string{"driver_activity_v1", "driver_activity_v2", "driver_activity_v3"}) {
		t.Errorf("feature services = %v", got)
	}

	if got := names(r.DataSources, func(s *DataSource) string { return s.Name + ":" + s.Type.String() }); !reflect.DeepEqual(got, []string{
		"driver_hourly_stats_source:BATCH_FILE", "driver_quality_labels_batch:BATCH_FILE", "driver_quality_labels_push:PUSH_SOURCE",
		"driver_stats_push_source:PUSH_SOURCE", "vals_to_add:REQUEST_SOURCE",
	}) {
		t.Errorf("data sources = %v", got)
	}
	push, _ := r.DataSource(p, "driver_stats_push_source")
	if push.PushOptions != nil || push.BatchSource == nil || push.BatchSource.Name != "driver_hourly_stats_source" {
		// Feast 0.67 writes no push_options for push sources; the type says it all.
		t.Errorf("push source = %+v", push)
	}

	lv, ok := r.LabelView(p, "driver_quality_labels")
	if !ok || lv.Spec.LabelerField != "labeler" || lv.Spec.ConflictPolicy != LastWriteWins || len(lv.Spec.Tags) != 8 ||
		lv.Spec.Source == nil || lv.Spec.Source.Type != SourcePush || len(lv.Spec.Features) != 4 {
		t.Errorf("label view = %+v", lv)
	}

	// Objects Larder does not model are kept: infra (10) and the feature-view version
	// history (18).
	var kept []int
	for _, u := range r.unknown {
		kept = append(kept, int(u.num))
	}
	if !reflect.DeepEqual(kept, []int{10, 18}) {
		t.Errorf("registry-level unknown fields = %v", kept)
	}
}

// Re-encoding Feast's registry gives exactly the bytes Feast's Python protobuf writes for
// the same message with deterministic=True (its default differs only in map order).
func TestFeastFixtureReencodesLikePython(t *testing.T) {
	r := loadFixture(t)
	want, err := os.ReadFile(fixtureCanonical)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Marshal()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("re-encoding differs from Python's at byte %d of %d/%d:\n got %x\nwant %x",
			i, len(got), len(want), got[i:min(i+40, len(got))], want[i:min(i+40, len(want))])
	}
	back, err := Unmarshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Error("decode(encode(r)) != r")
	}
}

// With FEAST_PYTHON set to a Python that has feast installed, ask Feast itself whether
// our bytes decode to the same message, and whether it can rebuild a registry we wrote
// from scratch. Run once when the codec changes:
//
//	FEAST_PYTHON=/opt/feast-venv/bin/python go test -run Python ./host/registry
func TestFeastPythonAcceptsOurBytes(t *testing.T) {
	py := os.Getenv("FEAST_PYTHON")
	if py == "" {
		t.Skip("FEAST_PYTHON not set")
	}
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours.db")
	if err := os.WriteFile(ours, loadFixture(t).Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "testdata/feast_roundtrip.py", "compare", fixtureDB, ours).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("Feast rejects our re-encoding: %v", err)
	}
	scratch := filepath.Join(dir, "scratch.db")
	if err := NewFileStore(scratch).Save(sampleRegistry()); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(py, "testdata/feast_roundtrip.py", "check", scratch).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("Feast cannot read a registry Larder wrote: %v", err)
	}
}

func ts(sec int64) *feast.Timestamp { return &feast.Timestamp{Seconds: sec} }

// sampleRegistry is a registry as Larder's apply would write it, touching every modelled
// message.
func sampleRegistry() *Registry {
	fileSrc := &DataSource{
		Type: SourceBatchFile, Name: "driver_stats", Project: "demo",
		TimestampField: "event_timestamp", CreatedTimestampColumn: "created",
		FieldMapping:        map[string]string{"conv": "conv_rate", "acc": "acc_rate"},
		FileOptions:         &FileOptions{URI: "data/driver_stats.parquet", FileFormat: &FileFormat{Parquet: true}},
		DataSourceClassType: "feast.infra.offline_stores.file_source.FileSource",
		Meta:                &SourceMeta{CreatedTimestamp: ts(1700000000), LastUpdatedTimestamp: ts(1700000001)},
	}
	pushSrc := &DataSource{
		Type: SourcePush, Name: "driver_push", Project: "demo", BatchSource: fileSrc, PushOptions: &PushOptions{},
		DataSourceClassType: "feast.data_source.PushSource",
	}
	reqSrc := &DataSource{
		Type: SourceRequest, Name: "vals", Project: "demo", DataSourceClassType: "feast.data_source.RequestSource",
		RequestDataOptions: &RequestDataOptions{Schema: []*FeatureSpec{{Name: "val_to_add", ValueType: feast.TypeInt64}}},
	}
	features := []*FeatureSpec{
		{Name: "conv_rate", ValueType: feast.TypeFloat, Description: "conversion", Tags: map[string]string{"pii": "no"}},
		{Name: "trips", ValueType: feast.TypeInt64},
	}
	zero := int32(0)
	return &Registry{
		Projects: []*Project{{Spec: &ProjectSpec{Name: "demo", Description: "d"}, Meta: &Meta{CreatedTimestamp: ts(1700000000)}}},
		Entities: []*Entity{{
			Spec: &EntitySpec{Name: "driver", JoinKey: "driver_id", ValueType: feast.TypeInt64, Project: "demo", Tags: map[string]string{"a": "b"}},
			Meta: &Meta{CreatedTimestamp: ts(1700000000), LastUpdatedTimestamp: ts(1700000000)},
		}},
		DataSources: []*DataSource{fileSrc, pushSrc, reqSrc},
		FeatureViews: []*FeatureView{{
			Spec: &FeatureViewSpec{
				Name: "driver_stats", Project: "demo", Entities: []string{"driver"}, Features: features,
				EntityColumns: []*FeatureSpec{{Name: "driver_id", ValueType: feast.TypeInt64}},
				TTL:           DurationOf(2 * time.Hour), BatchSource: fileSrc, StreamSource: pushSrc, Online: true, Offline: true,
				Tags: map[string]string{"team": "x"},
			},
			Meta: &FeatureViewMeta{
				CreatedTimestamp: ts(1700000000), LastUpdatedTimestamp: ts(1700000100),
				MaterializationIntervals: []*MaterializationInterval{
					{StartTime: ts(1690000000), EndTime: ts(1700000000)},
					{StartTime: ts(1700000000), EndTime: &feast.Timestamp{Seconds: 1700003600, Nanos: 500}},
				},
			},
		}},
		OnDemandFeatureViews: []*OnDemandFeatureView{{
			Spec: &OnDemandFeatureViewSpec{
				Name: "plus", Project: "demo",
				Features: []*FeatureSpec{{Name: "conv_plus", ValueType: feast.TypeDouble}},
				Sources: map[string]*OnDemandSource{
					"vals":         {RequestDataSource: reqSrc},
					"driver_stats": {FeatureViewProjection: &FeatureViewProjection{FeatureViewName: "driver_stats", FeatureColumns: features[:1]}},
				},
				FeatureTransformation: &FeatureTransformation{UserDefinedFunction: &UserDefinedFunction{
					Name: "plus", Mode: "python", BodyText: "def plus(inputs):\n    return inputs\n",
				}},
				Mode: "python", Entities: []string{"driver"}, WriteToOnlineStore: false,
			},
			Meta: &OnDemandFeatureViewMeta{CreatedTimestamp: ts(1700000000)},
		}},
		FeatureServices: []*FeatureService{{
			Spec: &FeatureServiceSpec{
				Name: "svc", Project: "demo",
				Features: []*FeatureViewProjection{{
					FeatureViewName: "driver_stats", FeatureViewNameAlias: "ds", FeatureColumns: features,
					JoinKeyMap: map[string]string{"driver_id": "rider_id"}, VersionTag: &zero,
				}},
			},
			Meta: &Meta{CreatedTimestamp: ts(1700000000)},
		}},
	}
}

func TestSampleRegistryRoundTrip(t *testing.T) {
	r := sampleRegistry()
	b := r.Marshal()
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip differs")
	}
	if !bytes.Equal(back.Marshal(), b) {
		t.Error("encoding not stable")
	}
	// proto3 optional: version_tag 0 is written ("50 00" = field 10, varint 0).
	fs := r.FeatureServices[0].Spec.Features[0]
	if !bytes.Contains(fs.marshal(), []byte{0x50, 0x00}) {
		t.Error("VersionTag 0 not written")
	}
}

func TestUnknownFieldsKeepTheirPlace(t *testing.T) {
	// EntitySpec: name(1), unknown 5 (varint 7), join_key(4) given out of order, unknown 30.
	in := []byte{0x0a, 0x01, 'd', 0x28, 0x07, 0x22, 0x02, 'i', 'd', 0xf2, 0x01, 0x01, 'z'}
	var s EntitySpec
	if err := decodeMessage(in, &s, 0); err != nil {
		t.Fatal(err)
	}
	if s.Name != "d" || s.JoinKey != "id" {
		t.Fatalf("decoded %+v", s)
	}
	want := []byte{0x0a, 0x01, 'd', 0x22, 0x02, 'i', 'd', 0x28, 0x07, 0xf2, 0x01, 0x01, 'z'}
	if got := s.marshal(); !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x (fields in number order)", got, want)
	}
	// A known field number with a foreign wire type is kept as unknown, not dropped.
	var e EntitySpec
	if err := decodeMessage([]byte{0x08, 0x01}, &e, 0); err != nil || e.Name != "" || !bytes.Equal(e.marshal(), []byte{0x08, 0x01}) {
		t.Errorf("foreign wire type: %+v, %v", e, err)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	good := sampleRegistry().Marshal()
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "decoding Feast registry"},
		{"bad tag", []byte{0xff}, "malformed tag"},
		{"bad utf8 name", mustHex(t, "0a05"+"0a03"+"0a01ff"), "UTF-8"},
		{"bad utf8 map key", mustHex(t, "0a0a"+"0a08"+"4206"+"0a01ff"+"1201"+"61"), "UTF-8"},
	}
	for _, tt := range tests {
		_, err := Unmarshal(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
	var deep []byte
	for i := 0; i < maxDepth+3; i++ {
		deep = append(append([]byte{0xd2, 0x01}, varint(len(deep))...), deep...) // DataSource.batch_source (26)
	}
	deep = append(append([]byte{0x62}, varint(len(deep))...), deep...) // Registry.data_sources (12)
	if _, err := Unmarshal(deep); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("deep nesting error = %v", err)
	}
}

func varint(n int) []byte {
	var b []byte
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFileStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "registry.db")
	store := NewFileStore(path)
	fixed := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	store.now = func() time.Time { return fixed }

	if _, err := store.Load(); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("missing file: %v", err)
	}
	r := sampleRegistry()
	if err := store.Save(r); err != nil {
		t.Fatal(err)
	}
	if r.RegistrySchemaVersion != "1" || r.LastUpdated.Time() != fixed || len(r.VersionID) != 36 {
		t.Errorf("stamps: %q %v %q", r.RegistrySchemaVersion, r.LastUpdated, r.VersionID)
	}
	firstID := r.VersionID
	back, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Error("loaded registry differs from saved")
	}
	back.Entities = back.Entities[:0]
	if err := store.Save(back); err != nil {
		t.Fatal(err)
	}
	if back.VersionID == firstID {
		t.Error("version id not renewed")
	}
	again, _ := store.Load()
	if len(again.Entities) != 0 {
		t.Error("second save not visible")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("left temp files: %v", entries)
	}

	if err := os.WriteFile(path, []byte{0x0a, 0xff}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt file error = %v", err)
	}
}

func TestFileStoreSaveFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.db")
	if err := os.WriteFile(path, sampleRegistry().Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	// Replacing a directory with a file fails at rename; the old content must survive.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := NewFileStore(blocked).Save(sampleRegistry()); err == nil {
		t.Fatal("save over a non-empty directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temp file left behind: %v", entries)
	}
	if _, err := NewFileStore(path).Load(); err != nil {
		t.Errorf("old registry damaged: %v", err)
	}
}

func TestDuration(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, 90 * time.Minute, -3*time.Second - 5} {
		if got := DurationOf(d).Std(); got != d {
			t.Errorf("Duration round trip %v → %v", d, got)
		}
	}
	if (*Duration)(nil).Std() != 0 {
		t.Error("nil duration")
	}
	if got := (&Duration{Seconds: 1 << 62}).Std(); got != time.Duration(1<<63-1) {
		t.Errorf("saturation: %v", got)
	}
}

func TestEnumNames(t *testing.T) {
	if SourcePush.String() != "PUSH_SOURCE" || SourceType(99).String() != "SourceType(99)" ||
		StateMaterializing.String() != "MATERIALIZING" || FeatureViewState(9).String() != "FeatureViewState(9)" {
		t.Error("enum names")
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, p := range []string{fixtureDB, fixtureCanonical} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(sampleRegistry().Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := Unmarshal(in)
		if err != nil {
			return
		}
		b1 := r.Marshal()
		r2, err := Unmarshal(b1)
		if err != nil {
			t.Fatalf("re-encoded registry does not decode: %v", err)
		}
		if b2 := r2.Marshal(); !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable:\n%x\n%x", b1, b2)
		}
	})
}
