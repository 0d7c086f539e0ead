package planner

import (
	"encoding/json"
	"fmt"
	"strings"

	sdk "github.com/larder-dev/larder/sdk-go"
)

// HistoricalRequest is the input of larder_offline_plan_historical (spec §9.6).
type HistoricalRequest = sdk.HistoricalRequest

// Names the plan uses for its own columns; entity columns may not take them (nor any
// other name starting with reservedPrefix).
const (
	reservedPrefix = "__larder_"
	colFile        = "__larder_file" // entity file index and row number: keep duplicates
	colRow         = "__larder_row"  // one-for-one and the result in source order
	colTS          = "__larder_ts"   // the entity or feature row's timestamp as TIMESTAMPTZ
	colAt          = "__larder_at"   // a row's place on the ASOF time line (see planView)
)

// PlanHistoricalJSON decodes a request, plans it and encodes the plan.
func PlanHistoricalJSON(input []byte) ([]byte, error) {
	var req HistoricalRequest
	if err := json.Unmarshal(input, &req); err != nil {
		return nil, bad("decoding the historical request JSON: %v", err)
	}
	p, err := PlanHistorical(&req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

// PlanHistorical plans a point-in-time join (spec §9.6) as one ASOF LEFT JOIN per view.
//
// An ASOF join picks, per entity row, the feature row with the greatest event timestamp
// not after the entity's, which is Feast's rule except for two details handled around it:
// rows sharing a key and event timestamp must go to the one with the greatest created
// timestamp (then the last in the file), and ASOF has no tie-break of its own, so the
// join's inequality is on a struct that carries the tie-break after the timestamp (see
// planView); and the TTL is applied to the chosen row afterwards. That is exact: if the
// latest row at or before the entity timestamp is older than the TTL, every other
// candidate is older still. Each entity row carries its file and row number, so the result
// has one row per entity row, duplicates included, in source order.
func PlanHistorical(r *HistoricalRequest) (*Plan, error) {
	var params []Param
	param := func(p Param) string {
		params = append(params, p)
		return fmt.Sprintf("$%d", len(params))
	}

	// Entity source.
	es := &r.Entities
	tsField := es.TimestampField
	if tsField == "" {
		tsField = "event_timestamp"
	}
	if len(es.Columns) == 0 {
		return nil, bad("entities.columns is empty: the host must describe the entity source")
	}
	entityTypes := make(map[string]string, len(es.Columns))
	var entitySelects []string
	var schema []Column
	for i, c := range es.Columns {
		field := fmt.Sprintf("entities.columns[%d]", i)
		if strings.HasPrefix(c.Name, reservedPrefix) {
			return nil, bad("%s: the entity column name %q is reserved by this plugin", field, c.Name)
		}
		if _, dup := entityTypes[c.Name]; dup {
			return nil, bad("%s: the entity source has two columns named %q", field, c.Name)
		}
		expr, typ, err := typedColumn(field, c, func(f, name string) (string, error) {
			if err := checkName(f, name); err != nil {
				return "", err
			}
			return quoteIdent(name), nil
		})
		if err != nil {
			return nil, err
		}
		entityTypes[c.Name] = typ
		entitySelects = append(entitySelects, strings.Replace(expr, "src.", "e.", 1)+" AS "+quoteIdent(c.Name))
		schema = append(schema, Column{Name: c.Name, Type: typ})
	}
	switch t, ok := entityTypes[tsField]; {
	case !ok:
		return nil, bad("entities: the timestamp column %q is not a column of the entity source (columns: %s)", tsField, columnNames(es.Columns))
	case t != "UNIX_TIMESTAMP":
		return nil, bad("entities: the timestamp column %q has type %s, want UNIX_TIMESTAMP", tsField, t)
	}
	// The entity rows' order is the files' (file_index, file_row_number): no sort or
	// window is needed to number them. Without such columns (CSV, a query) a row_number
	// over the unordered scan keeps the order DuckDB reads the rows in.
	var entityFrom string
	rowFile, rowNum := "0", "row_number() OVER ()"
	switch {
	case es.Query != "" && es.Path != "":
		return nil, bad("entities: set path or query, not both")
	case es.Query != "":
		// The operator's own SQL for the engine (spec §9.6): the one text taken verbatim.
		entityFrom = "(\n" + strings.TrimRight(strings.TrimSpace(es.Query), "; \t\r\n") + "\n) AS e"
	case es.Path != "":
		rd, ok := readers[es.FileFormat]
		if !ok {
			return nil, bad("entities.file_format %q is not supported (supported: parquet, csv)", es.FileFormat)
		}
		entityFrom = strings.Replace(rd.from, "$1", param(Param{Type: "STRING", Value: es.Path}), 1) + " AS e"
		if len(rd.rowPosition) == 2 {
			rowFile = strings.Replace(rd.rowPosition[0], "src.", "e.", 1)
			rowNum = strings.Replace(rd.rowPosition[1], "src.", "e.", 1)
		}
	default:
		return nil, bad("entities: neither path nor query is set")
	}
	entityTS := "CAST(e." + quoteIdent(tsField) + " AS TIMESTAMPTZ)"
	entitySelects = append(entitySelects,
		entityTS+" AS "+quoteIdent(colTS),
		"CAST("+rowFile+" AS BIGINT) AS "+quoteIdent(colFile),
		"CAST("+rowNum+" AS BIGINT) AS "+quoteIdent(colRow))

	outNames := make(map[string]string, len(es.Columns))
	for _, c := range es.Columns {
		outNames[c.Name] = "an entity column"
	}
	var outSelects []string
	for _, c := range es.Columns {
		outSelects = append(outSelects, "e."+quoteIdent(c.Name))
	}
	var joins, ctes []string
	for vi := range r.Views {
		v := &r.Views[vi]
		pv, err := planView(vi, v, r.FullFeatureNames, entityTypes, entityTS, param, outNames)
		if err != nil {
			return nil, err
		}
		ctes = append(ctes, pv.cte)
		joins = append(joins, pv.join)
		entitySelects = append(entitySelects, pv.entityAt)
		outSelects = append(outSelects, pv.sels...)
		schema = append(schema, pv.cols...)
	}

	var sb strings.Builder
	sb.WriteString("WITH \"__e\" AS (\nSELECT ")
	sb.WriteString(strings.Join(entitySelects, ", "))
	sb.WriteString("\nFROM ")
	sb.WriteString(entityFrom)
	sb.WriteString(")")
	for _, c := range ctes {
		sb.WriteString(",\n")
		sb.WriteString(c)
	}
	sb.WriteString("\nSELECT ")
	sb.WriteString(strings.Join(outSelects, ", "))
	sb.WriteString("\nFROM \"__e\" AS e")
	for _, j := range joins {
		sb.WriteString("\n")
		sb.WriteString(j)
	}
	sb.WriteString("\nORDER BY e." + quoteIdent(colFile) + ", e." + quoteIdent(colRow))
	if params == nil {
		params = []Param{}
	}
	return &Plan{Dialect: "duckdb", SQL: sb.String(), Params: params, ResultSchema: schema}, nil
}

// plannedView is one view's part of the plan.
type plannedView struct {
	cte      string   // the view's source rows with internal names and their ASOF place
	entityAt string   // the entity rows' ASOF place for this view, a select of "__e"
	join     string   // the ASOF LEFT JOIN
	sels     []string // output expressions
	cols     []Column // and their schema
}

// planView plans view vi. The ASOF inequality is not on the event timestamp alone: it
// carries the tie-break after it, so that the greatest key not after the entity row's is
// Feast's winner (the latest event at or before the entity timestamp, then a created
// timestamp over none, then the greatest created, then the last row of the files). Feature
// rows are placed at
//
//	no created column:  t·2⁶⁴ + pos                          (HUGEINT)
//	created column:     {a: t·2⁶⁴ + c, b: pos}                (STRUCT, compared a then b)
//
// where t is the event in µs, c the created timestamp in µs shifted by 2⁶³ so that every
// real value is above 0, which stands for none, and pos = file_index·2⁴⁰ + file_row_number
// (below 2⁶³ for fewer than 2²³ files of fewer than 2⁴⁰ rows). An entity row at time t is
// placed at t·2⁶⁴ + (2⁶⁴ − 1) and b at its maximum, after every feature row of the same
// event. Formats without row positions (CSV) leave pos out; their remaining ties are
// arbitrary, as spec §9.4 allows. An entity row without a timestamp matches nothing.
//
// This replaced a window that first reduced each source to one row per key and event:
// that window cost more than the join itself; the wider key costs a fraction of it
// (BENCHMARKS.md, historical retrieval).
func planView(vi int, v *sdk.HistoricalView, fullNames bool, entityTypes map[string]string, entityTS string,
	param func(Param) string, outNames map[string]string) (pv plannedView, err error) {
	at := fmt.Sprintf("views[%d]", vi)
	if err := checkName(at+".name", v.Name); err != nil {
		return pv, err
	}
	src := &v.Source
	rd, ok := readers[src.FileFormat]
	if !ok {
		return pv, bad("%s (%s): source.file_format %q is not supported (supported: parquet, csv)", at, v.Name, src.FileFormat)
	}
	if src.Path == "" {
		return pv, bad("%s (%s): source.path is empty: this plugin reads local Parquet or CSV files", at, v.Name)
	}
	if src.TimestampField == "" {
		return pv, bad("%s (%s): source.timestamp_field is empty", at, v.Name)
	}
	if v.TTL < 0 {
		return pv, bad("%s (%s): ttl %d is negative", at, v.Name, v.TTL)
	}
	toSource, err := reverseMapping(src.FieldMapping)
	if err != nil {
		return pv, err
	}
	column := func(field, name string) (string, error) {
		if err := checkName(field, name); err != nil {
			return "", err
		}
		if s, ok := toSource[name]; ok {
			name = s
		}
		return quoteIdent(name), nil
	}
	alias := quoteIdent(fmt.Sprintf("__v%d", vi))
	eventCol, err := column(at+".source.timestamp_field", src.TimestampField)
	if err != nil {
		return pv, err
	}
	event := "CAST(src." + eventCol + " AS TIMESTAMPTZ)"
	// The ASOF places (see above).
	const (
		two64   = "CAST(18446744073709551616 AS HUGEINT)"
		last64  = "CAST(18446744073709551615 AS HUGEINT)"
		shift63 = "CAST(9223372036854775808 AS HUGEINT)"
		minHuge = "CAST(-170141183460469231731687303715884105728 AS HUGEINT)"
		maxBig  = "CAST(9223372036854775807 AS BIGINT)"
	)
	pos := ""
	if len(rd.rowPosition) == 2 {
		pos = "CAST(" + rd.rowPosition[0] + " AS BIGINT) * 1099511627776 + CAST(" + rd.rowPosition[1] + " AS BIGINT)"
	}
	featureAt, entityAt := event, entityTS
	entityHigh := "CAST(epoch_us(" + entityTS + ") AS HUGEINT) * " + two64 + " + " + last64
	if src.CreatedTimestampColumn != "" {
		c, err := column(at+".source.created_timestamp_column", src.CreatedTimestampColumn)
		if err != nil {
			return pv, err
		}
		high := "CAST(epoch_us(" + event + ") AS HUGEINT) * " + two64 +
			" + coalesce(CAST(epoch_us(CAST(src." + c + " AS TIMESTAMPTZ)) AS HUGEINT) + " + shift63 + ", 0)"
		featureAt, entityAt = high, entityHigh
		if pos != "" {
			// A struct is never NULL by itself: an entity row without a timestamp is put
			// below every feature row instead.
			featureAt = "{'a': " + high + ", 'b': " + pos + "}"
			entityAt = "{'a': coalesce(" + entityHigh + ", " + minHuge + "), 'b': " + maxBig + "}"
		}
	} else if pos != "" {
		featureAt = "CAST(epoch_us(" + event + ") AS HUGEINT) * " + two64 + " + " + pos
		entityAt = entityHigh
	}

	// Internal names (k0, f0, …) keep source names from ever meeting each other.
	var selects, where, on []string
	where = append(where, event+" IS NOT NULL")
	for i, k := range v.JoinKeys {
		field := fmt.Sprintf("%s.join_keys[%d]", at, i)
		expr, typ, err := typedColumn(field, Column{Name: k.Name, Type: k.Type}, column)
		if err != nil {
			return pv, err
		}
		ec := k.EntityColumn
		if ec == "" {
			ec = k.Name
		}
		et, ok := entityTypes[ec]
		if !ok {
			return pv, bad("%s (%s): join key %q needs the entity column %q, which the entity source does not have", field, v.Name, k.Name, ec)
		}
		// Integers of either width compare by value (an INT32 column in a CSV of ids
		// against an INT64 join key is the common case); anything else is a mistake.
		if et != typ && !(isInteger(et) && isInteger(typ)) {
			return pv, bad("%s (%s): join key %q has type %s but the entity column %q has type %s", field, v.Name, k.Name, typ, ec, et)
		}
		kn := quoteIdent(fmt.Sprintf("k%d", i))
		selects = append(selects, expr+" AS "+kn)
		where = append(where, expr+" IS NOT NULL")
		on = append(on, "e."+quoteIdent(ec)+" = "+alias+"."+kn)
	}
	selects = append(selects, event+" AS "+quoteIdent(colTS), featureAt+" AS "+quoteIdent(colAt))
	ttl := ""
	if v.TTL > 0 {
		ttl = param(Param{Type: "INT64", Value: v.TTL})
	}
	prefix := v.NameToUse
	if prefix == "" {
		prefix = v.Name
	}
	for i, f := range v.Features {
		field := fmt.Sprintf("%s.features[%d]", at, i)
		expr, typ, err := typedColumn(field, f, column)
		if err != nil {
			return pv, err
		}
		fn := quoteIdent(fmt.Sprintf("f%d", i))
		selects = append(selects, expr+" AS "+fn)
		out := f.Name
		if fullNames {
			out = prefix + "__" + f.Name
		}
		if what, dup := outNames[out]; dup {
			return pv, bad("%s (%s): the output column %q is also %s (use full feature names to tell them apart)", field, v.Name, out, what)
		}
		outNames[out] = "feature " + f.Name + " of " + v.Name
		val := alias + "." + fn
		if ttl != "" {
			val = "CASE WHEN epoch_us(" + alias + "." + quoteIdent(colTS) + ") >= epoch_us(e." + quoteIdent(colTS) + ") - " + ttl + " THEN " + val + " END"
		}
		pv.sels = append(pv.sels, val+" AS "+quoteIdent(out))
		pv.cols = append(pv.cols, Column{Name: out, Type: typ})
	}

	from := strings.Replace(rd.from, "$1", param(Param{Type: "STRING", Value: src.Path}), 1)
	var sb strings.Builder
	sb.WriteString(alias)
	sb.WriteString(" AS (\nSELECT ")
	sb.WriteString(strings.Join(selects, ", "))
	sb.WriteString("\nFROM ")
	sb.WriteString(from)
	sb.WriteString(" AS src\nWHERE ")
	sb.WriteString(strings.Join(where, " AND "))
	sb.WriteString(")")

	entityAtCol := quoteIdent(fmt.Sprintf("%s%d", colAt, vi))
	pv.entityAt = entityAt + " AS " + entityAtCol
	on = append(on, "e."+entityAtCol+" >= "+alias+"."+quoteIdent(colAt))
	pv.join = "ASOF LEFT JOIN " + alias + " AS " + alias + " ON " + strings.Join(on, " AND ")
	pv.cte = sb.String()
	return pv, nil
}

func columnNames(cs []Column) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = fmt.Sprintf("%q", c.Name)
	}
	return strings.Join(names, ", ")
}

func isInteger(t string) bool { return t == "INT32" || t == "INT64" }
