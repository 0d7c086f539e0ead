// Package planner turns offline-store requests (ABI spec §9.2) into DuckDB query plans
// (§9.3) over Parquet and CSV files. It is pure: no I/O, no host calls, so the same input
// always gives the same plan, natively and in Wasm.
//
// Its types are the SDK's (aliased below). Names from the request (columns, mappings) only ever reach the SQL as quoted
// identifiers, and values (the file path, the time window) only as parameters.
package planner

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/larder-dev/larder/abi"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// Aliases of the SDK's offline types, so the planner reads as the spec does.
type (
	PullLatestRequest = sdk.PullLatestRequest
	Source            = sdk.OfflineSource
	Column            = sdk.PlanColumn
	Param             = sdk.PlanParam
	Plan              = sdk.QueryPlan
)

// Reserved result column names (spec §5.4).
const (
	colEventTS   = "__event_ts"
	colCreatedTS = "__created_ts"
)

// PlanPullLatestJSON decodes a request, plans it and encodes the plan.
func PlanPullLatestJSON(input []byte) ([]byte, error) {
	var req PullLatestRequest
	if err := json.Unmarshal(input, &req); err != nil {
		return nil, bad("decoding the pull-latest request JSON: %v", err)
	}
	p, err := PlanPullLatest(&req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

// PlanPullLatest plans "the latest row per entity in [start, end)" (spec §9.4): rows with
// a null event timestamp or null join key are skipped, the greatest event timestamp wins,
// then the greatest created timestamp (nulls lowest), then, for Parquet, the row that
// comes last in the files.
func PlanPullLatest(r *PullLatestRequest) (*Plan, error) {
	if r.End <= r.Start {
		return nil, bad("end (%d) must be after start (%d)", r.End, r.Start)
	}
	pr, err := project(&r.Source, r.JoinKeys, r.FeatureColumns)
	if err != nil {
		return nil, err
	}
	order := []string{pr.event + " DESC", pr.created + " DESC NULLS LAST"}
	order = append(order, pr.reader.lastRowOrder...)
	where := append([]string{pr.event + " >= $2", pr.event + " < $3"}, pr.notNull...)
	var sb strings.Builder
	sb.WriteString("SELECT ")
	sb.WriteString(strings.Join(pr.selects, ", "))
	sb.WriteString("\nFROM ")
	sb.WriteString(pr.reader.from)
	sb.WriteString(" AS src\nWHERE ")
	sb.WriteString(strings.Join(where, " AND "))
	sb.WriteString("\nQUALIFY row_number() OVER (")
	if len(pr.keys) > 0 {
		sb.WriteString("PARTITION BY ")
		sb.WriteString(strings.Join(pr.keys, ", "))
		sb.WriteString(" ")
	}
	sb.WriteString("ORDER BY ")
	sb.WriteString(strings.Join(order, ", "))
	sb.WriteString(") = 1")

	return &Plan{
		Dialect: "duckdb",
		SQL:     sb.String(),
		Params: []Param{
			{Type: "STRING", Value: r.Source.Path},
			{Type: "UNIX_TIMESTAMP", Value: r.Start},
			{Type: "UNIX_TIMESTAMP", Value: r.End},
		},
		ResultSchema: pr.schema,
	}, nil
}

// projection is the part pull-latest and pull-all share: how a source is read and the
// typed, renamed columns of their result (spec §9.3).
type projection struct {
	reader  reader
	event   string   // the event timestamp expression, as TIMESTAMPTZ
	created string   // the created timestamp expression (a typed NULL when none)
	selects []string // result column expressions with their AS names, in schema order
	keys    []string // join key expressions
	notNull []string // "key IS NOT NULL" conditions
	schema  []Column
}

// project checks a source and the requested columns and builds their projection.
func project(src *Source, joinKeys, featureColumns []Column) (*projection, error) {
	reader, ok := readers[src.FileFormat]
	if !ok {
		return nil, bad("source.file_format %q is not supported (supported: parquet, csv)", src.FileFormat)
	}
	if src.Path == "" {
		return nil, bad("source.path is empty: this plugin reads local Parquet or CSV files")
	}
	if src.TimestampField == "" {
		return nil, bad("source.timestamp_field is empty: this plan needs an event timestamp")
	}
	toSource, err := reverseMapping(src.FieldMapping)
	if err != nil {
		return nil, err
	}
	// column returns the quoted source column behind a (mapped) name.
	column := func(field, name string) (string, error) {
		if err := checkName(field, name); err != nil {
			return "", err
		}
		if s, ok := toSource[name]; ok {
			name = s
		}
		return quoteIdent(name), nil
	}

	seen := map[string]string{colEventTS: "a reserved column", colCreatedTS: "a reserved column"}
	claim := func(field, name string) error {
		if what, dup := seen[name]; dup {
			return bad("%s %q is also %s", field, name, what)
		}
		seen[name] = field
		return nil
	}

	eventCol, err := column("source.timestamp_field", src.TimestampField)
	if err != nil {
		return nil, err
	}
	pr := &projection{reader: reader, event: "CAST(src." + eventCol + " AS TIMESTAMPTZ)", created: "CAST(NULL AS TIMESTAMPTZ)"}
	if src.CreatedTimestampColumn != "" {
		c, err := column("source.created_timestamp_column", src.CreatedTimestampColumn)
		if err != nil {
			return nil, err
		}
		pr.created = "CAST(src." + c + " AS TIMESTAMPTZ)"
	}

	pr.schema = make([]Column, 0, len(joinKeys)+2+len(featureColumns))
	for i, k := range joinKeys {
		field := fmt.Sprintf("join_keys[%d]", i)
		expr, typ, err := typedColumn(field, k, column)
		if err != nil {
			return nil, err
		}
		if err := claim(field, k.Name); err != nil {
			return nil, err
		}
		pr.selects = append(pr.selects, expr+" AS "+quoteIdent(k.Name))
		pr.keys = append(pr.keys, expr)
		pr.notNull = append(pr.notNull, expr+" IS NOT NULL")
		pr.schema = append(pr.schema, Column{Name: k.Name, Type: typ})
	}
	pr.selects = append(pr.selects, pr.event+" AS "+quoteIdent(colEventTS), pr.created+" AS "+quoteIdent(colCreatedTS))
	pr.schema = append(pr.schema, Column{Name: colEventTS, Type: "UNIX_TIMESTAMP"}, Column{Name: colCreatedTS, Type: "UNIX_TIMESTAMP"})
	for i, f := range featureColumns {
		field := fmt.Sprintf("feature_columns[%d]", i)
		expr, typ, err := typedColumn(field, f, column)
		if err != nil {
			return nil, err
		}
		if err := claim(field, f.Name); err != nil {
			return nil, err
		}
		pr.selects = append(pr.selects, expr+" AS "+quoteIdent(f.Name))
		pr.schema = append(pr.schema, Column{Name: f.Name, Type: typ})
	}
	return pr, nil
}

// reader is how one file format is read: the table expression ($1 is the path), the
// ORDER BY terms that make the last row of the files win a remaining tie, and the same
// position as integer expressions, ascending (file_index numbers the files in the sorted
// order of their names, the order filename sorts in).
type reader struct {
	from         string
	lastRowOrder []string
	rowPosition  []string
}

var readers = map[string]reader{
	// Feast's FileSource default format is Parquet.
	"": {
		from:         "read_parquet($1, filename = true, file_row_number = true)",
		lastRowOrder: []string{"src.filename DESC", "src.file_row_number DESC"},
		rowPosition:  []string{"src.file_index", "src.file_row_number"},
	},
	"parquet": {
		from:         "read_parquet($1, filename = true, file_row_number = true)",
		lastRowOrder: []string{"src.filename DESC", "src.file_row_number DESC"},
		rowPosition:  []string{"src.file_index", "src.file_row_number"},
	},
	// CSV has no row number to break ties with; they stay arbitrary (spec §9.4).
	"csv": {from: "read_csv_auto($1)"},
}

// duckdbTypes maps ABI type names to the DuckDB types whose values the host reads as them.
var duckdbTypes = map[string]string{
	"BYTES": "BLOB", "STRING": "VARCHAR", "INT32": "INTEGER", "INT64": "BIGINT",
	"DOUBLE": "DOUBLE", "FLOAT": "FLOAT", "BOOL": "BOOLEAN", "UNIX_TIMESTAMP": "TIMESTAMPTZ",
}

// typedColumn returns the cast expression reading c from the source, and its type name.
func typedColumn(field string, c Column, column func(field, name string) (string, error)) (string, string, error) {
	src, err := column(field+".name", c.Name)
	if err != nil {
		return "", "", err
	}
	t, ok := abi.ParseType(c.Type)
	if !ok {
		return "", "", bad("%s (%q): unknown type %q", field, c.Name, c.Type)
	}
	var dt string
	if t.IsList() {
		if et := duckdbTypes[t.Elem().String()]; et != "" {
			dt = et + "[]"
		}
	} else {
		dt = duckdbTypes[c.Type]
	}
	if dt == "" {
		return "", "", bad("%s (%q): type %s cannot be read from a file", field, c.Name, c.Type)
	}
	return "CAST(src." + src + " AS " + dt + ")", t.String(), nil
}

// reverseMapping inverts field_mapping (source column -> name) to name -> source column.
func reverseMapping(m map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for from, to := range m {
		if err := checkName("source.field_mapping key", from); err != nil {
			return nil, err
		}
		if err := checkName("source.field_mapping["+from+"]", to); err != nil {
			return nil, err
		}
		if prev, dup := out[to]; dup {
			a, b := prev, from
			if b < a {
				a, b = b, a
			}
			return nil, bad("source.field_mapping maps both %q and %q to %q", a, b, to)
		}
		out[to] = from
	}
	return out, nil
}

// checkName rejects names no quoting can make safe or meaningful.
func checkName(field, name string) error {
	switch {
	case name == "":
		return bad("%s is empty", field)
	case !utf8.ValidString(name):
		return bad("%s %q is not valid UTF-8", field, name)
	case strings.ContainsRune(name, 0):
		return bad("%s %q contains a NUL character", field, name)
	case len(name) > 1024:
		return bad("%s is %d bytes long, more than 1024", field, len(name))
	}
	return nil
}

// quoteIdent quotes a SQL identifier: "a""b" for a"b.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// bad reports a request the planner cannot plan: BAD_ARGUMENT for the host.
func bad(format string, args ...any) error {
	return sdk.Errorf(abi.ErrBadArgument, format, args...)
}
