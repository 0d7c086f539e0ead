package planner

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/larder-dev/larder/abi"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// The plans are run against a real PostgreSQL and compared with the reference join by
// conformance.RunOfflineStore (TestOfflinePostgres); these tests pin the planner's own
// rules: what it refuses, and that names only ever reach the SQL quoted.

func pullBase() *PullLatestRequest {
	return &PullLatestRequest{
		View:           "stats",
		Source:         Source{Name: "s", Table: "feast.driver_stats", TimestampField: "event_timestamp", CreatedTimestampColumn: "created", FieldMapping: map[string]string{"src_conv": "conv_rate"}},
		JoinKeys:       []Column{{Name: "driver_id", Type: "INT64"}},
		FeatureColumns: []Column{{Name: "conv_rate", Type: "FLOAT"}, {Name: "tags", Type: "STRING_LIST"}},
		Start:          1, End: 2,
	}
}

func TestPlanPullLatest(t *testing.T) {
	p, err := PlanPullLatest(pullBase())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`FROM "feast"."driver_stats" AS src`,
		`DISTINCT ON (CAST(src."driver_id" AS bigint))`,
		`CAST(src."src_conv" AS real) AS "conv_rate"`,
		`CAST(src."tags" AS text[]) AS "tags"`,
		`>= CAST($1 AS timestamptz)`, `< CAST($2 AS timestamptz)`,
		`CAST(src."created" AS timestamptz) DESC NULLS LAST`,
	} {
		if !strings.Contains(p.SQL, want) {
			t.Errorf("plan lacks %s:\n%s", want, p.SQL)
		}
	}
	if p.Dialect != "postgres" || len(p.Params) != 2 || len(p.ResultSchema) != 5 || p.ResultSchema[1].Name != colEventTS {
		t.Errorf("plan %+v", p)
	}

	t.Run("entity-less view keeps one row", func(t *testing.T) {
		r := pullBase()
		r.JoinKeys = nil
		p, err := PlanPullLatest(r)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p.SQL, "DISTINCT ON") || !strings.HasSuffix(p.SQL, "LIMIT 1") {
			t.Errorf("plan:\n%s", p.SQL)
		}
	})
	t.Run("query source is a subquery; table wins over query as in Feast", func(t *testing.T) {
		r := pullBase()
		r.Source.Table, r.Source.Query = "", "SELECT * FROM x;  "
		p, err := PlanPullLatest(r)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(p.SQL, "FROM (\nSELECT * FROM x\n) AS src") {
			t.Errorf("plan:\n%s", p.SQL)
		}
		r.Source.Table = "t"
		if p, _ = PlanPullLatest(r); !strings.Contains(p.SQL, `FROM "t" AS src`) {
			t.Errorf("plan:\n%s", p.SQL)
		}
	})
}

func TestPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*PullLatestRequest)
		want   string
	}{
		{"file source", func(r *PullLatestRequest) { r.Source.Path = "/x.parquet" }, "not files"},
		{"no table or query", func(r *PullLatestRequest) { r.Source.Table = "" }, "neither table nor query"},
		{"four-part name", func(r *PullLatestRequest) { r.Source.Table = "a.b.c.d" }, "more than three"},
		{"empty name part", func(r *PullLatestRequest) { r.Source.Table = "a..b" }, "is empty"},
		{"long identifier", func(r *PullLatestRequest) { r.FeatureColumns[0].Name = strings.Repeat("x", 64) }, "at most 63"},
		{"no timestamp", func(r *PullLatestRequest) { r.Source.TimestampField = "" }, "timestamp_field is empty"},
		{"window", func(r *PullLatestRequest) { r.End = r.Start }, "must be after start"},
		{"reserved name", func(r *PullLatestRequest) { r.FeatureColumns[0].Name = colEventTS }, "reserved"},
		{"unknown type", func(r *PullLatestRequest) { r.FeatureColumns[0].Type = "MAP" }, "unknown type"},
		{"mapping collision", func(r *PullLatestRequest) { r.Source.FieldMapping["other"] = "conv_rate" }, "maps both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := pullBase()
			tc.mutate(r)
			_, err := PlanPullLatest(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !errors.Is(err, abi.ErrBadArgument) {
				t.Errorf("error %v is not BAD_ARGUMENT", err)
			}
		})
	}
}

func histBase() *HistoricalRequest {
	return &HistoricalRequest{
		Entities: sdk.EntitySource{Table: "pg_temp.__larder_entities", RowColumn: "__larder_row", Columns: []Column{
			{Name: "driver_id", Type: "INT32"}, {Name: "event_timestamp", Type: "UNIX_TIMESTAMP"}}},
		Views: []sdk.HistoricalView{{Name: "stats", Source: Source{Table: "stats", TimestampField: "ts"},
			JoinKeys: []sdk.HistoricalJoinKey{{Name: "driver_id", Type: "INT64"}},
			Features: []Column{{Name: "conv_rate", Type: "FLOAT"}}, TTL: 3600000000}},
	}
}

func TestPlanHistorical(t *testing.T) {
	p, err := PlanHistorical(histBase())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`CAST(e."__larder_row" AS bigint) AS "__larder_row"`,
		`SELECT DISTINCT ON (e."__larder_row")`,
		`e."driver_id" = CAST(src."driver_id" AS bigint)`, // the INT32 entity column meets the INT64 key
		`>= e."__larder_ts" - CAST($1 AS bigint) * interval '1 microsecond'`,
		`ORDER BY e."__larder_row"`,
	} {
		if !strings.Contains(p.SQL, want) {
			t.Errorf("plan lacks %s:\n%s", want, p.SQL)
		}
	}
	t.Run("an entity-less view carries the latest row forward", func(t *testing.T) {
		r := histBase()
		r.Views[0].JoinKeys = nil
		p, err := PlanHistorical(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`row_number() OVER (ORDER BY CAST(src."ts" AS timestamptz), CAST(NULL AS timestamptz) NULLS FIRST) AS "seq"`,
			`max("seq") OVER (ORDER BY "__larder_ts", "kind" ROWS UNBOUNDED PRECEDING)`,
			`s."__larder_ts" >= u."__larder_ts" - CAST($1 AS bigint) * interval '1 microsecond'`,
		} {
			if !strings.Contains(p.SQL, want) {
				t.Errorf("plan lacks %s:\n%s", want, p.SQL)
			}
		}
		if strings.Contains(p.SQL, "DISTINCT ON") {
			t.Errorf("plan joins the entity-less view:\n%s", p.SQL)
		}
	})
	for _, tc := range []struct {
		name   string
		mutate func(*HistoricalRequest)
		want   string
	}{
		{"entity file", func(r *HistoricalRequest) { r.Entities.Path = "/e.parquet" }, "cannot read files"},
		{"no entity source", func(r *HistoricalRequest) { r.Entities.Table = "" }, "neither table nor query"},
		{"both entity sources", func(r *HistoricalRequest) { r.Entities.Query = "SELECT 1" }, "not both"},
		{"reserved entity column", func(r *HistoricalRequest) { r.Entities.Columns[0].Name = "__larder_row" }, "reserved"},
		{"missing timestamp", func(r *HistoricalRequest) { r.Entities.TimestampField = "ts" }, `"ts" is not a column`},
		{"key type mismatch", func(r *HistoricalRequest) { r.Entities.Columns[0].Type = "STRING" }, "has type INT64 but the entity column"},
		{"missing entity column", func(r *HistoricalRequest) { r.Views[0].JoinKeys[0].EntityColumn = "rider" }, `needs the entity column "rider"`},
		{"name collision", func(r *HistoricalRequest) { r.Views[0].Features[0].Name = "driver_id" }, "is also an entity column"},
		{"negative ttl", func(r *HistoricalRequest) { r.Views[0].TTL = -1 }, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := histBase()
			tc.mutate(r)
			_, err := PlanHistorical(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !errors.Is(err, abi.ErrBadArgument) {
				t.Errorf("error %v is not BAD_ARGUMENT", err)
			}
		})
	}
}

// FuzzPlanJSON: any input gives a plan or BAD_ARGUMENT, never a panic, and a plan's SQL
// holds the request's names only inside quoted identifiers: removing every quoted
// identifier and the one verbatim text (queries) leaves no trace of a hostile name.
func FuzzPlanJSON(f *testing.F) {
	f.Add([]byte(`{"source":{"table":"a.b\"; DROP TABLE x; --","timestamp_field":"t"},"join_keys":[{"name":"k","type":"INT64"}],"feature_columns":[{"name":"f\"--","type":"FLOAT"}],"start":1,"end":2}`), false)
	f.Add([]byte(`{"entities":{"table":"pg_temp.e","row_column":"r","columns":[{"name":"k\"x","type":"INT64"},{"name":"event_timestamp","type":"UNIX_TIMESTAMP"}]},"views":[{"name":"v","source":{"table":"s","timestamp_field":"t","field_mapping":{"x\"":"f"}},"join_keys":[{"name":"k\"x","type":"INT64"}],"features":[{"name":"f","type":"BOOL_LIST"}],"ttl":5}],"full_feature_names":true}`), true)
	f.Fuzz(func(t *testing.T, data []byte, historical bool) {
		plan := PlanPullLatestJSON
		if historical {
			plan = PlanHistoricalJSON
		}
		out, err := plan(data)
		if err != nil {
			if !errors.Is(err, abi.ErrBadArgument) {
				t.Fatalf("error not marked as a bad request: %v", err)
			}
			return
		}
		var p Plan
		if err := json.Unmarshal(out, &p); err != nil || p.Dialect != Dialect || len(p.ResultSchema) == 0 {
			t.Fatalf("bad plan %s (%v)", out, err)
		}
		if strings.Contains(data2queries(data), "DROP") {
			return // the operator's own SQL is embedded verbatim by design
		}
		if strings.Contains(stripQuoted(p.SQL), "DROP") {
			t.Fatalf("unquoted input in the plan:\n%s", p.SQL)
		}
	})
}

// data2queries returns the verbatim query texts of a request (source and entity queries).
func data2queries(data []byte) string {
	var r struct {
		Source   Source `json:"source"`
		Entities struct {
			Query string `json:"query"`
		} `json:"entities"`
		Views []struct {
			Source Source `json:"source"`
		} `json:"views"`
	}
	_ = json.Unmarshal(data, &r)
	qs := []string{r.Source.Query, r.Entities.Query}
	for _, v := range r.Views {
		qs = append(qs, v.Source.Query)
	}
	return strings.Join(qs, "\n")
}

// stripQuoted removes "…" identifiers (with "" escapes) from sql.
func stripQuoted(sql string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '"' && in && i+1 < len(sql) && sql[i+1] == '"':
			i++
		case c == '"':
			in = !in
		case !in:
			b.WriteByte(c)
		}
	}
	return b.String()
}
