package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPushThenReadOverHTTP(t *testing.T) {
	h := quickstartServer(t).Handler()
	r := do(h, "POST", "/push", `{"push_source_name": "driver_stats_push_source", "df": {
		"driver_id": [1001, 7777], "event_timestamp": ["2025-01-14 10:59:42+00:00", "2025-01-14T11:00:00Z"],
		"created": ["2025-01-14 10:59:42", "2025-01-14 11:00:00"],
		"conv_rate": [0.5, 0.125], "acc_rate": [1.0, 0.25], "avg_daily_trips": [1000, 7]}}`)
	if r.status != 200 || len(r.body) != 0 {
		t.Fatalf("push: %d %q (Feast answers 200 with an empty body)", r.status, r.body)
	}
	r = do(h, "POST", "/get-online-features", `{"entities": {"driver_id": [7777, 1001]}, "full_feature_names": true,
		"features": ["driver_hourly_stats_fresh:avg_daily_trips", "driver_hourly_stats_fresh:conv_rate"]}`)
	want := `{"results":[{"values":[7777,1001],"statuses":["PRESENT","PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},` +
		`{"values":[7,1000],"statuses":["PRESENT","PRESENT"],"event_timestamps":["2025-01-14T11:00:00Z","2025-01-14T10:59:42Z"]},` +
		`{"values":[0.125,0.5],"statuses":["PRESENT","PRESENT"],"event_timestamps":["2025-01-14T11:00:00Z","2025-01-14T10:59:42Z"]}],` +
		`"metadata":{"feature_names":["driver_id","driver_hourly_stats_fresh__avg_daily_trips","driver_hourly_stats_fresh__conv_rate"]}}`
	if r.status != 200 || string(r.body) != want {
		t.Errorf("read back: %d\n got %s\nwant %s", r.status, r.body, want)
	}
	r = do(h, "POST", "/write-to-online-store", `{"feature_view_name": "global_stats", "df": {
		"event_timestamp": [1736812800], "active_drivers": [12], "surge_multiplier": [1.5]}}`)
	if r.status != 200 || string(r.body) != "null" {
		t.Fatalf("write: %d %q (Feast answers 200 with null)", r.status, r.body)
	}
	r = do(h, "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": ["global_stats:active_drivers"]}`)
	if !strings.Contains(string(r.body), `{"values":[12],"statuses":["PRESENT"],"event_timestamps":["2025-01-14T00:00:00Z"]}`) {
		t.Errorf("entity-less read back: %s", r.body)
	}
}

func TestContentTypeTolerance(t *testing.T) {
	// Feast's documented curl calls send no JSON content type (curl -d uses
	// application/x-www-form-urlencoded); the body is JSON whatever the header says.
	h := quickstartServer(t).Handler()
	for _, ct := range []string{"", "application/json", "application/x-www-form-urlencoded", "text/plain; charset=utf-8"} {
		req, _ := http.NewRequest("POST", "/get-online-features", strings.NewReader(`{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:conv_rate"]}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("content type %q: %d %s", ct, rec.Code, rec.Body)
		}
	}
}

func TestHealth(t *testing.T) {
	h := quickstartServer(t).Handler()
	if r := do(h, "GET", "/health", ""); r.status != 200 || len(r.body) != 0 {
		t.Errorf("health: %d %q", r.status, r.body)
	}
	// A repo whose registry does not exist yet is not healthy.
	dir := quickstartRepo(t)
	fs := openStore(t, dir, fixtureNow)
	if err := os.Remove(filepath.Join(dir, "data", "registry.db")); err != nil {
		t.Fatal(err)
	}
	if r := do(New(fs, Options{}).Handler(), "GET", "/health", ""); r.status != 503 {
		t.Errorf("health without a registry: %d %s", r.status, r.body)
	}
}

var sampleLine = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+Inf-]+$`)

func TestMetrics(t *testing.T) {
	h := quickstartServer(t).Handler()
	do(h, "POST", "/get-online-features", `{"entities": {"driver_id": [1001, 9999]}, "features": ["driver_hourly_stats:conv_rate", "driver_profile:name"]}`)
	do(h, "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": ["nope:x"]}`)
	do(h, "POST", "/push", `{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1], "event_timestamp": ["2025-01-14T00:00:00Z"], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [1]}}`)
	r := do(h, "GET", "/metrics", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("metrics: %d %s", r.status, r.header.Get("Content-Type"))
	}
	text := string(r.body)
	for _, want := range []string{
		`feast_feature_server_request_total{endpoint="/get-online-features",status="success"} 1`,
		`feast_feature_server_request_total{endpoint="/get-online-features",status="error"} 1`,
		`feast_feature_server_request_total{endpoint="/push",status="success"} 1`,
		`feast_feature_server_request_latency_seconds_count{endpoint="/get-online-features",feature_count="2",feature_view_count="2"} 1`,
		`feast_feature_server_request_latency_seconds_bucket{endpoint="/get-online-features",feature_count="2",feature_view_count="2",le="+Inf"} 1`,
		`feast_online_features_request_total 1`,
		`feast_online_features_entity_count_bucket{le="1"} 0`,
		`feast_online_features_entity_count_bucket{le="5"} 1`,
		`feast_online_features_entity_count_sum 2`,
		`feast_online_features_status_total{feature_view="driver_hourly_stats",status="present"} 1`,
		`feast_online_features_status_total{feature_view="driver_hourly_stats",status="not_found"} 1`,
		`feast_feature_server_online_store_read_duration_seconds_count 1`,
		`feast_push_request_total{push_source="driver_stats_push_source",mode="online"} 1`,
		"# TYPE feast_feature_server_request_latency_seconds histogram",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(text, want+"\n") && !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if !strings.HasPrefix(line, "# ") && !sampleLine.MatchString(line) {
			t.Errorf("not a valid exposition line: %q", line)
		}
	}
}

func TestLabelValueEscaping(t *testing.T) {
	got := string(appendSample(nil, "m", []string{"l"}, []string{"a\"b\\c\nd"}, "", 1))
	if want := "m{l=\"a\\\"b\\\\c\\nd\"} 1\n"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// TestOpenAPIMatchesRoutes keeps the hand-written OpenAPI document and the router in step.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := quickstartServer(t)
	r := do(s.Handler(), "GET", "/openapi.json", "")
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v %s", err, r.body)
	}
	var documented, routed []string
	for p, ms := range doc.Paths {
		for m := range ms {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	for _, rt := range s.e.Routes() {
		routed = append(routed, rt.Method+" "+rt.Path)
	}
	sort.Strings(documented)
	sort.Strings(routed)
	if strings.Join(documented, "\n") != strings.Join(routed, "\n") {
		t.Errorf("documented:\n%s\nrouted:\n%s", strings.Join(documented, "\n"), strings.Join(routed, "\n"))
	}
	r = do(s.Handler(), "GET", "/docs", "")
	if r.status != 200 || !strings.Contains(string(r.body), "/get-online-features") {
		t.Errorf("/docs: %d", r.status)
	}
}

func TestMaterializeConflictAndAsync(t *testing.T) {
	s := quickstartServer(t)
	if busy := s.claim([]string{"driver_hourly_stats"}, false); busy != nil {
		t.Fatal(busy)
	}
	body := `{"start_ts": "2025-01-01T00:00:00", "end_ts": "2025-01-15T00:00:00", "feature_views": ["driver_hourly_stats"]}`
	r := do(s.Handler(), "POST", "/materialize", body)
	if r.status != 409 || !strings.Contains(string(r.body), `"feature_views":["driver_hourly_stats"]`) {
		t.Errorf("conflict: %d %s", r.status, r.body)
	}
	s.release([]string{"driver_hourly_stats"})
	r = do(s.Handler(), "POST", "/materialize?async=true", body)
	if r.status != 202 || string(r.body) != `{"status":"accepted","feature_views":["driver_hourly_stats"]}` {
		t.Errorf("async: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		s.mu.Lock()
		n := len(s.materializing)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("background materialization did not finish")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := do(s.Handler(), "GET", "/metrics", ""); !strings.Contains(string(m.body), `feast_materialization_result_total{feature_view="driver_hourly_stats",status="success"} 1`) {
		t.Errorf("materialization not recorded as a success:\n%s", m.body)
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	s := quickstartServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	resp, err := http.Post("http://"+ln.Addr().String()+"/get-online-features", "application/json",
		strings.NewReader(`{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:conv_rate"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v after its context ended", err)
	}
}

// TestConcurrentRequests runs reads, pushes and metric scrapes from several goroutines
// against one server (run it with -race).
func TestConcurrentRequests(t *testing.T) {
	h := quickstartServer(t).Handler()
	const workers, each = 6, 15
	errs := make(chan string, workers*each)
	done := make(chan struct{})
	for w := 0; w < workers; w++ {
		go func(w int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < each; i++ {
				var r result
				switch i % 3 {
				case 0:
					r = do(h, "POST", "/get-online-features", `{"entities": {"driver_id": [1001, 1002, 9999]}, "features": ["driver_hourly_stats:conv_rate", "driver_profile:name", "global_stats:active_drivers"]}`)
				case 1:
					r = do(h, "POST", "/push", `{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [`+strconv.Itoa(5000+w)+`], "event_timestamp": ["2025-01-14T00:00:00Z"], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [`+strconv.Itoa(i)+`]}}`)
				default:
					r = do(h, "GET", "/metrics", "")
				}
				if r.status != 200 {
					errs <- string(r.body)
				}
			}
		}(w)
	}
	for w := 0; w < workers; w++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
