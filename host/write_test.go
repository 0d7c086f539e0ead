package host

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
)

func TestPushThenRead(t *testing.T) {
	on, wr := quickstartEnvs(t, quickstartCatalog(t), fixtureNow)
	ctx := context.Background()
	err := wr.push(ctx, PushRequest{PushSourceName: "driver_stats_push_source", DF: cols(t, `{
		"driver_id": [1001, 5005],
		"event_timestamp": ["2025-01-20 10:00:00+00:00", 1737367200.5],
		"created": ["2025-01-20T10:01:00Z", null],
		"conv_rate": [0.5, 0.25],
		"acc_rate": [0.75, null],
		"avg_daily_trips": [123, "456"],
		"ignored_column": ["x", "y"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := on.getOnlineFeatures(ctx, OnlineFeaturesRequest{
		Entities: cols(t, `{"driver_id": [5005, 1001]}`),
		Features: []string{"driver_hourly_stats_fresh:conv_rate", "driver_hourly_stats_fresh:acc_rate", "driver_hourly_stats_fresh:avg_daily_trips"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"conv_rate": "[0.25,0.5]", "acc_rate": "[null,0.75]", "avg_daily_trips": "[456,123]"} {
		c := column(t, resp, name)
		if got := renderValues(c.Values); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
		if c.Statuses[0] != abi.FieldPresent || c.Statuses[1] != abi.FieldPresent {
			t.Errorf("%s statuses %v: a pushed null is PRESENT with a null value, as in Feast", name, c.Statuses)
		}
		// Epoch seconds work; SQLite keeps whole seconds, as Feast's layout does.
		if want := time.Date(2025, 1, 20, 10, 0, 0, 0, time.UTC); !c.EventTimestamps[0].Equal(want) {
			t.Errorf("%s event time %v, want %v", name, c.EventTimestamps[0], want)
		}
	}
}

func TestWriteToOnlineStoreThenRead(t *testing.T) {
	on, wr := quickstartEnvs(t, quickstartCatalog(t), fixtureNow)
	ctx := context.Background()
	err := wr.writeToOnlineStore(ctx, WriteToOnlineStoreRequest{FeatureViewName: "driver_profile", DF: cols(t, `{
		"driver_id": [7007], "event_timestamp": ["2025-01-21T08:00:00Z"],
		"name": ["Zoë"], "is_active": [true], "rating": [4.5], "trips_total": [77], "license_hash": ["AAEC"],
		"score": [0.5], "last_seen": [1737446340], "tags": [["a", "b"]], "recent_trip_ids": [[1, 2]],
		"recent_ratings": [[4.5]], "recent_speeds": [[1.5]], "shift_flags": [[true]], "zone_ids": [[7]], "doc_hashes": [null]}`)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := on.getOnlineFeatures(ctx, OnlineFeaturesRequest{Entities: cols(t, `{"driver_id": [7007]}`),
		FeatureService: "driver_activity_v2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := renderValues(column(t, resp, "name").Values); got != `["Zoë"]` {
		t.Errorf("name %s", got)
	}
	if got := renderValues(column(t, resp, "rating").Values); got != `[4.5]` {
		t.Errorf("rating %s", got)
	}
	// driver_hourly_stats was not written for 7007.
	if s := column(t, resp, "conv_rate").Statuses[0]; s != abi.FieldNotFound {
		t.Errorf("conv_rate status %v", s)
	}
}

func TestWriteEntitylessView(t *testing.T) {
	on, wr := quickstartEnvs(t, quickstartCatalog(t), fixtureNow)
	ctx := context.Background()
	if err := wr.writeToOnlineStore(ctx, WriteToOnlineStoreRequest{FeatureViewName: "global_stats", DF: cols(t,
		`{"event_timestamp": ["2025-01-20T00:00:00Z"], "active_drivers": [3], "surge_multiplier": [2.5]}`)}); err != nil {
		t.Fatal(err)
	}
	resp, err := on.getOnlineFeatures(ctx, OnlineFeaturesRequest{Entities: cols(t, `{"driver_id": [1]}`), Features: []string{"global_stats:surge_multiplier"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := renderValues(column(t, resp, "surge_multiplier").Values); got != "[2.5]" {
		t.Errorf("surge_multiplier %s", got)
	}
}

func TestWriteRequestErrors(t *testing.T) {
	_, wr := quickstartEnvs(t, quickstartCatalog(t), fixtureNow)
	ctx := context.Background()
	good := `"driver_id": [1], "event_timestamp": ["2025-01-20T00:00:00Z"], "conv_rate": [0.5], "acc_rate": [0.5]`
	for _, tc := range []struct {
		name, source, to, df string
		kind                 ErrorKind
		field, msg           string
	}{
		{"unknown push source", "nope", "", `{` + good + `, "avg_daily_trips": [1]}`, Unprocessable, "push_source_name", `push source named "nope"`},
		{"bad destination", "driver_stats_push_source", "nowhere", `{` + good + `, "avg_daily_trips": [1]}`, BadRequest, "to", `"nowhere" is not a push destination`},
		{"missing feature column", "driver_stats_push_source", "", `{` + good + `}`, BadRequest, "df", `missing columns ["avg_daily_trips"]`},
		{"missing join key and timestamp", "driver_stats_push_source", "", `{"conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [1]}`, BadRequest, "df", `["driver_id", "event_timestamp"]`},
		{"ragged columns", "driver_stats_push_source", "", `{` + good + `, "avg_daily_trips": [1, 2]}`, BadRequest, "df.avg_daily_trips", "has 2 values"},
		{"bad feature value", "driver_stats_push_source", "", `{` + good + `, "avg_daily_trips": ["many"]}`, BadRequest, "df.avg_daily_trips[0]", "INT64"},
		{"null join key", "driver_stats_push_source", "", `{"driver_id": [null], "event_timestamp": ["2025-01-20T00:00:00Z"], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [1]}`, BadRequest, "df.driver_id[0]", "null"},
		{"bad timestamp", "driver_stats_push_source", "", `{"driver_id": [1], "event_timestamp": ["yesterday"], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [1]}`, BadRequest, "df.event_timestamp[0]", "cannot parse"},
		{"null timestamp", "driver_stats_push_source", "", `{"driver_id": [1], "event_timestamp": [null], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [1]}`, BadRequest, "df.event_timestamp[0]", "null"},
		{"milliseconds as seconds", "driver_stats_push_source", "", `{"driver_id": [1], "event_timestamp": [1737367200000], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [1]}`, BadRequest, "df.event_timestamp[0]", "seconds"},
		{"no columns", "driver_stats_push_source", "", `{}`, BadRequest, "df", "no columns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := wr.push(ctx, PushRequest{PushSourceName: tc.source, To: tc.to, DF: cols(t, tc.df)})
			re, ok := AsRequestError(err)
			if !ok {
				t.Fatalf("error %v, want a *RequestError", err)
			}
			if re.Kind != tc.kind || re.Field != tc.field || !strings.Contains(re.Msg, tc.msg) {
				t.Errorf("got %v %q %q, want %v %q containing %q", re.Kind, re.Field, re.Msg, tc.kind, tc.field, tc.msg)
			}
		})
	}
	t.Run("unknown view", func(t *testing.T) {
		err := wr.writeToOnlineStore(ctx, WriteToOnlineStoreRequest{FeatureViewName: "nope", DF: cols(t, `{"a": [1]}`)})
		if re, ok := AsRequestError(err); !ok || re.Kind != NotFound || re.Field != "feature_view_name" {
			t.Errorf("got %v", err)
		}
	})
	t.Run("offline push is unimplemented and writes nothing", func(t *testing.T) {
		err := wr.push(ctx, PushRequest{PushSourceName: "driver_stats_push_source", To: PushOnlineAndOffline, DF: cols(t, `{`+good+`, "avg_daily_trips": [1]}`)})
		if !errors.Is(err, abi.ErrUnimplemented) {
			t.Errorf("got %v, want abi.ErrUnimplemented", err)
		}
	})
}

func TestParseEventTime(t *testing.T) {
	for in, want := range map[string]string{
		`"2022-05-13 10:59:42+00:00"`:        "2022-05-13T10:59:42Z",
		`"2022-05-13 12:59:42+02:00"`:        "2022-05-13T10:59:42Z",
		`"2022-05-13T10:59:42.25Z"`:          "2022-05-13T10:59:42.25Z",
		`"2022-05-13 10:59:42"`:              "2022-05-13T10:59:42Z",
		`"2022-05-13"`:                       "2022-05-13T00:00:00Z",
		`1652439582`:                         "2022-05-13T10:59:42Z",
		`1652439582.5`:                       "2022-05-13T10:59:42.5Z",
		`"2022-05-13T10:59:42.123456+00:00"`: "2022-05-13T10:59:42.123456Z",
	} {
		got, err := parseEventTime([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if s := got.Format(time.RFC3339Nano); s != want {
			t.Errorf("%s: %s, want %s", in, s, want)
		}
	}
	for _, in := range []string{`null`, `true`, `"soon"`, `[1]`, `{}`, `1e300`, `-1e20`} {
		if _, err := parseEventTime([]byte(in)); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}
