package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
)

const gofOK = `"features": ["driver_hourly_stats:conv_rate"]`

// TestMalformedRequests sends bad requests to every endpoint: each must get a 4xx whose
// JSON error names what is wrong, never a 5xx or a panic.
func TestMalformedRequests(t *testing.T) {
	srv := New(openStore(t, quickstartRepo(t), fixtureNow), Options{MaxBodyBytes: 1 << 16})
	h := srv.Handler()
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		msg                      string // substring of the error message
		field                    string // expected "field", if any
	}{
		// /get-online-features: the body itself
		{"empty body", "POST", "/get-online-features", ``, 400, "body is empty", ""},
		{"null body", "POST", "/get-online-features", `null`, 400, "JSON object", ""},
		{"array body", "POST", "/get-online-features", `[]`, 400, "JSON object", ""},
		{"string body", "POST", "/get-online-features", `"hello"`, 400, "JSON object", ""},
		{"truncated object", "POST", "/get-online-features", `{`, 400, "malformed JSON", ""},
		{"truncated array", "POST", "/get-online-features", `{"entities": {"driver_id": [1001]}, "features": [`, 400, "malformed JSON", ""},
		{"syntax error", "POST", "/get-online-features", `{"entities": {"driver_id": [1001,]}, ` + gofOK + `}`, 400, "malformed JSON", ""},
		{"trailing data", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, ` + gofOK + `} {}`, 400, "after the JSON object", ""},
		{"body too large", "POST", "/get-online-features", `{"entities": {"driver_id": [` + strings.Repeat("1,", 40000) + `1]}, ` + gofOK + `}`, 413, "limit", ""},
		// field types
		{"unknown field", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "feature": ["driver_hourly_stats:conv_rate"]}`, 400, `unknown field "feature"`, "feature"},
		{"missing entities", "POST", "/get-online-features", `{` + gofOK + `}`, 400, "entities is required", "entities"},
		{"entities is an array", "POST", "/get-online-features", `{"entities": [1001], ` + gofOK + `}`, 400, "must be an object", "entities"},
		{"entities is null", "POST", "/get-online-features", `{"entities": null, ` + gofOK + `}`, 400, "entities is required", "entities"},
		{"entity column not an array", "POST", "/get-online-features", `{"entities": {"driver_id": 1001}, ` + gofOK + `}`, 400, "array of values", "entities.driver_id"},
		{"entity column null", "POST", "/get-online-features", `{"entities": {"driver_id": null}, ` + gofOK + `}`, 400, "got null", "entities.driver_id"},
		{"entity column object", "POST", "/get-online-features", `{"entities": {"driver_id": {"a": 1}}, ` + gofOK + `}`, 400, "array of values", "entities.driver_id"},
		{"entity column twice", "POST", "/get-online-features", `{"entities": {"driver_id": [1], "driver_id": [2]}, ` + gofOK + `}`, 400, "appears twice", "entities.driver_id"},
		{"features is a string", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": "driver_hourly_stats:conv_rate"}`, 400, "array of strings", "features"},
		{"features holds a number", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": [1]}`, 400, "", "features"},
		{"feature_service is a number", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "feature_service": 5}`, 400, "a string", "feature_service"},
		{"feature_service empty", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "feature_service": ""}`, 400, "empty", "feature_service"},
		{"full_feature_names is a string", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, ` + gofOK + `, "full_feature_names": "yes"}`, 400, "a boolean", "full_feature_names"},
		{"request_context not an object", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, ` + gofOK + `, "request_context": [1]}`, 400, "must be an object", "request_context"},
		// semantics
		{"no features", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": []}`, 400, "no features requested", "features"},
		{"features and service", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, ` + gofOK + `, "feature_service": "driver_activity_v2"}`, 400, "not both", "features"},
		{"reference without view", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": ["conv_rate"]}`, 400, "malformed feature reference", "features[0]"},
		{"unknown feature view", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": ["nope:conv_rate"]}`, 404, `feature view "nope" not found`, "features[0]"},
		{"unknown feature", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": ["driver_hourly_stats:nope"]}`, 404, `feature "nope" not found`, "features[0]"},
		{"unknown feature service", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "feature_service": "nope"}`, 404, `feature service "nope" not found`, "feature_service"},
		{"versioned reference", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": ["driver_hourly_stats@v2:conv_rate"]}`, 422, "version", "features[0]"},
		{"on-demand feature view", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": ["transformed_conv_rate:conv_rate_plus_val1"]}`, 422, "on-demand", "features[0]"},
		{"no entity columns", "POST", "/get-online-features", `{"entities": {}, ` + gofOK + `}`, 400, "no entity columns", "entities"},
		{"ragged entity columns", "POST", "/get-online-features", `{"entities": {"driver_id": [1, 2], "customer_id": ["a"]}, "features": ["driver_customer_stats:trips_together"]}`, 400, "different lengths", "entities"},
		{"missing join key", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": ["driver_customer_stats:trips_together"]}`, 400, `["customer_id"]`, "entities"},
		{"null join key", "POST", "/get-online-features", `{"entities": {"driver_id": [1001, null]}, ` + gofOK + `}`, 400, "null", "entities.driver_id[1]"},
		{"text join key for INT64", "POST", "/get-online-features", `{"entities": {"driver_id": ["abc"]}, ` + gofOK + `}`, 400, "INT64", "entities.driver_id[0]"},
		{"fractional join key for INT64", "POST", "/get-online-features", `{"entities": {"driver_id": [1.5]}, ` + gofOK + `}`, 400, "", "entities.driver_id[0]"},
		{"huge join key", "POST", "/get-online-features", `{"entities": {"driver_id": [1e400]}, ` + gofOK + `}`, 400, "", "entities.driver_id[0]"},
		{"deeply nested join key", "POST", "/get-online-features", `{"entities": {"driver_id": [` + deep + `]}, ` + gofOK + `}`, 400, "", ""},
		{"duplicate reference", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:conv_rate"]}`, 400, "twice", "features[1]"},
		{"name collision", "POST", "/get-online-features", `{"entities": {"driver_id": [1]}, "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats_fresh:conv_rate"]}`, 400, "full_feature_names", "features"},
		// /push
		{"push: no source", "POST", "/push", `{"df": {"driver_id": [1]}}`, 400, "push_source_name is required", "push_source_name"},
		{"push: no df", "POST", "/push", `{"push_source_name": "driver_stats_push_source"}`, 400, "df is required", "df"},
		{"push: df not an object", "POST", "/push", `{"push_source_name": "driver_stats_push_source", "df": [[1]]}`, 400, "must be an object", "df"},
		{"push: unknown source", "POST", "/push", `{"push_source_name": "nope", "df": {"driver_id": [1]}}`, 422, `push source named "nope"`, "push_source_name"},
		{"push: bad destination", "POST", "/push", `{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1]}, "to": "both"}`, 400, "not a push destination", "to"},
		{"push: missing columns", "POST", "/push", `{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1]}}`, 400, "missing columns", "df"},
		{"push: bad timestamp", "POST", "/push", `{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1], "event_timestamp": ["soon"], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [1]}}`, 400, "cannot parse", "df.event_timestamp[0]"},
		{"push: bad value", "POST", "/push", `{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1], "event_timestamp": ["2025-01-20T00:00:00Z"], "conv_rate": ["high"], "acc_rate": [0.5], "avg_daily_trips": [1]}}`, 400, "FLOAT", "df.conv_rate[0]"},
		{"push: transform_on_write not bool", "POST", "/push", `{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1]}, "transform_on_write": 1}`, 400, "a boolean", "transform_on_write"},
		// /write-to-online-store
		{"write: no view", "POST", "/write-to-online-store", `{"df": {"driver_id": [1]}}`, 400, "feature_view_name is required", "feature_view_name"},
		{"write: unknown view", "POST", "/write-to-online-store", `{"feature_view_name": "nope", "df": {"driver_id": [1]}}`, 404, `feature view "nope" not found`, "feature_view_name"},
		{"write: ragged frame", "POST", "/write-to-online-store", `{"feature_view_name": "global_stats", "df": {"event_timestamp": ["2025-01-20T00:00:00Z"], "active_drivers": [1, 2], "surge_multiplier": [1.5]}}`, 400, "values", "df.active_drivers"},
		{"write: list for a scalar", "POST", "/write-to-online-store", `{"feature_view_name": "global_stats", "df": {"event_timestamp": ["2025-01-20T00:00:00Z"], "active_drivers": [[1]], "surge_multiplier": [1.5]}}`, 400, "INT64", "df.active_drivers[0]"},
		// /materialize and /materialize-incremental
		{"materialize: start after end", "POST", "/materialize", `{"start_ts": "2025-01-15T00:00:00", "end_ts": "2025-01-01T00:00:00"}`, 400, "must be before", "start_ts"},
		{"materialize: no end", "POST", "/materialize", `{"start_ts": "2025-01-15T00:00:00"}`, 400, "end_ts is required", "end_ts"},
		{"materialize: bad time", "POST", "/materialize", `{"start_ts": "yesterday", "end_ts": "2025-01-01T00:00:00"}`, 400, "cannot parse", "start_ts"},
		{"materialize: version", "POST", "/materialize", `{"start_ts": "2025-01-01T00:00:00", "end_ts": "2025-01-02T00:00:00", "version": "v2"}`, 422, "version", "version"},
		{"materialize: bad async", "POST", "/materialize?async=maybe", `{"start_ts": "2025-01-01T00:00:00", "end_ts": "2025-01-02T00:00:00"}`, 400, "not a boolean", "async"},
		{"materialize: unknown view", "POST", "/materialize", `{"start_ts": "2025-01-01T00:00:00", "end_ts": "2025-01-02T00:00:00", "feature_views": ["nope"]}`, 0, "nope", ""},
		{"materialize-incremental: no end", "POST", "/materialize-incremental", `{}`, 400, "end_ts is required", "end_ts"},
		{"materialize-incremental: feature_views not a list", "POST", "/materialize-incremental", `{"end_ts": "2025-01-01T00:00:00", "feature_views": "x"}`, 400, "array of strings", "feature_views"},
		// routing
		{"wrong method", "GET", "/get-online-features", ``, 405, "Method Not Allowed", ""},
		{"unknown path", "POST", "/no-such-endpoint", `{}`, 404, "Not Found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(h, tc.method, tc.path, tc.body)
			if r.status < 400 || r.status >= 500 || (tc.status != 0 && r.status != tc.status) {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			var e struct {
				Error      string `json:"error"`
				StatusCode int    `json:"status_code"`
				Field      string `json:"field"`
			}
			if err := json.Unmarshal(r.body, &e); err != nil {
				t.Fatalf("error body is not JSON: %q", r.body)
			}
			if e.StatusCode != r.status || e.Error == "" || !strings.Contains(e.Error, tc.msg) {
				t.Errorf("error %+v, want a message containing %q", e, tc.msg)
			}
			if e.Field != tc.field && tc.field != "" {
				t.Errorf("field %q, want %q (%s)", e.Field, tc.field, e.Error)
			}
		})
	}
}

func TestHTTPErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{host.Requestf(host.BadRequest, "f", "x"), 400},
		{host.Requestf(host.NotFound, "f", "x"), 404},
		{host.Requestf(host.Unprocessable, "f", "x"), 422},
		{host.Requestf(host.Conflict, "f", "x"), 409},
		{&bodyTooLargeError{limit: 1}, 413},
		{host.ErrUnhealthy, 503},
		{host.ErrPoolExhausted, 503},
		{host.ErrDeadline, 503},
		{errorsJoin("reading", host.ErrPluginClosed), 503},
		{errorsJoin("redis down", abi.ErrUnavailable), 503},
		{errorsJoin("too big", abi.ErrResourceExhausted), 503},
		{errorsJoin("boom", nil), 500},
	} {
		status, msg, _ := httpError(tc.err)
		if status != tc.status {
			t.Errorf("%v: %d, want %d", tc.err, status, tc.status)
		}
		if status == 500 && strings.Contains(msg, "boom") {
			t.Errorf("500 leaks the internal error: %q", msg)
		}
	}
}

type wrapped struct {
	msg string
	err error
}

func (w wrapped) Error() string { return w.msg }
func (w wrapped) Unwrap() error { return w.err }

func errorsJoin(msg string, err error) error { return wrapped{msg, err} }
