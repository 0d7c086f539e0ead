package planner

import (
	"encoding/json"
	"fmt"
	"strings"

	sdk "github.com/larder-dev/larder/sdk-go"
)

// HistoricalRequest is the input of larder_offline_plan_historical (spec §9.6).
type HistoricalRequest = sdk.HistoricalRequest

// Names the plan uses for its own columns; entity columns may not take them.
const (
	colRow = "__larder_row" // entity row id: keeps duplicates one-for-one and the order
	colTS  = "__larder_ts"  // the entity or feature row's timestamp as TIMESTAMPTZ
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
// rows sharing a key and event timestamp are first reduced to the one with the greatest
// created timestamp (then the last in the file), since ASOF has no tie-break of its own;
// and the TTL is applied to the chosen row afterwards. That is exact: if the latest row at
// or before the entity timestamp is older than the TTL, every other candidate is older
// still. Each entity row carries a row number, so the result has one row per entity row,
// duplicates included, in source order.
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
		if c.Name == colRow || c.Name == colTS {
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
	var entityFrom, rowOrder string
	switch {
	case es.Query != "" && es.Path != "":
		return nil, bad("entities: set path or query, not both")
	case es.Query != "":
		// The operator's own SQL for the engine (spec §9.6): the one text taken verbatim.
		entityFrom = "(\n" + strings.TrimRight(strings.TrimSpace(es.Query), "; \t\r\n") + "\n) AS e"
		rowOrder = ""
	case es.Path != "":
		rd, ok := readers[es.FileFormat]
		if !ok {
			return nil, bad("entities.file_format %q is not supported (supported: parquet, csv)", es.FileFormat)
		}
		entityFrom = strings.Replace(rd.from, "$1", param(Param{Type: "STRING", Value: es.Path}), 1) + " AS e"
		if len(rd.lastRowOrder) > 0 {
			rowOrder = "ORDER BY e.filename, e.file_row_number"
		}
	default:
		return nil, bad("entities: neither path nor query is set")
	}
	entitySelects = append(entitySelects,
		"CAST(e."+quoteIdent(tsField)+" AS TIMESTAMPTZ) AS "+quoteIdent(colTS),
		"row_number() OVER ("+rowOrder+") AS "+quoteIdent(colRow))

	var sb strings.Builder
	sb.WriteString("WITH \"__e\" AS (\nSELECT ")
	sb.WriteString(strings.Join(entitySelects, ", "))
	sb.WriteString("\nFROM ")
	sb.WriteString(entityFrom)
	sb.WriteString(")")

	outNames := make(map[string]string, len(es.Columns))
	for _, c := range es.Columns {
		outNames[c.Name] = "an entity column"
	}
	var outSelects []string
	for _, c := range es.Columns {
		outSelects = append(outSelects, "e."+quoteIdent(c.Name))
	}
	var joins []string
	for vi := range r.Views {
		v := &r.Views[vi]
		cte, join, sel, cols, err := planView(vi, v, r.FullFeatureNames, entityTypes, param, outNames)
		if err != nil {
			return nil, err
		}
		sb.WriteString(",\n")
		sb.WriteString(cte)
		joins = append(joins, join)
		outSelects = append(outSelects, sel...)
		schema = append(schema, cols...)
	}
	sb.WriteString("\nSELECT ")
	sb.WriteString(strings.Join(outSelects, ", "))
	sb.WriteString("\nFROM \"__e\" AS e")
	for _, j := range joins {
		sb.WriteString("\n")
		sb.WriteString(j)
	}
	sb.WriteString("\nORDER BY e.")
	sb.WriteString(quoteIdent(colRow))
	if params == nil {
		params = []Param{}
	}
	return &Plan{Dialect: "duckdb", SQL: sb.String(), Params: params, ResultSchema: schema}, nil
}

// planView returns view vi's CTE (its source reduced to one row per key and event
// timestamp), its ASOF join, its output expressions and their schema.
func planView(vi int, v *sdk.HistoricalView, fullNames bool, entityTypes map[string]string,
	param func(Param) string, outNames map[string]string) (cte, join string, sels []string, cols []Column, err error) {
	at := fmt.Sprintf("views[%d]", vi)
	if err := checkName(at+".name", v.Name); err != nil {
		return "", "", nil, nil, err
	}
	src := &v.Source
	rd, ok := readers[src.FileFormat]
	if !ok {
		return "", "", nil, nil, bad("%s (%s): source.file_format %q is not supported (supported: parquet, csv)", at, v.Name, src.FileFormat)
	}
	if src.Path == "" {
		return "", "", nil, nil, bad("%s (%s): source.path is empty: this plugin reads local Parquet or CSV files", at, v.Name)
	}
	if src.TimestampField == "" {
		return "", "", nil, nil, bad("%s (%s): source.timestamp_field is empty", at, v.Name)
	}
	if v.TTL < 0 {
		return "", "", nil, nil, bad("%s (%s): ttl %d is negative", at, v.Name, v.TTL)
	}
	toSource, err := reverseMapping(src.FieldMapping)
	if err != nil {
		return "", "", nil, nil, err
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
		return "", "", nil, nil, err
	}
	event := "CAST(src." + eventCol + " AS TIMESTAMPTZ)"
	created := "CAST(NULL AS TIMESTAMPTZ)"
	if src.CreatedTimestampColumn != "" {
		c, err := column(at+".source.created_timestamp_column", src.CreatedTimestampColumn)
		if err != nil {
			return "", "", nil, nil, err
		}
		created = "CAST(src." + c + " AS TIMESTAMPTZ)"
	}

	// Internal names (k0, f0, …) keep source names from ever meeting each other.
	var selects, keys, where, on []string
	where = append(where, event+" IS NOT NULL")
	for i, k := range v.JoinKeys {
		field := fmt.Sprintf("%s.join_keys[%d]", at, i)
		expr, typ, err := typedColumn(field, Column{Name: k.Name, Type: k.Type}, column)
		if err != nil {
			return "", "", nil, nil, err
		}
		ec := k.EntityColumn
		if ec == "" {
			ec = k.Name
		}
		et, ok := entityTypes[ec]
		if !ok {
			return "", "", nil, nil, bad("%s (%s): join key %q needs the entity column %q, which the entity source does not have", field, v.Name, k.Name, ec)
		}
		// Integers of either width compare by value (an INT32 column in a CSV of ids
		// against an INT64 join key is the common case); anything else is a mistake.
		if et != typ && !(isInteger(et) && isInteger(typ)) {
			return "", "", nil, nil, bad("%s (%s): join key %q has type %s but the entity column %q has type %s", field, v.Name, k.Name, typ, ec, et)
		}
		kn := quoteIdent(fmt.Sprintf("k%d", i))
		selects = append(selects, expr+" AS "+kn)
		keys = append(keys, expr)
		where = append(where, expr+" IS NOT NULL")
		on = append(on, "e."+quoteIdent(ec)+" = "+alias+"."+kn)
	}
	selects = append(selects, event+" AS "+quoteIdent(colTS))
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
			return "", "", nil, nil, err
		}
		fn := quoteIdent(fmt.Sprintf("f%d", i))
		selects = append(selects, expr+" AS "+fn)
		out := f.Name
		if fullNames {
			out = prefix + "__" + f.Name
		}
		if what, dup := outNames[out]; dup {
			return "", "", nil, nil, bad("%s (%s): the output column %q is also %s (use full feature names to tell them apart)", field, v.Name, out, what)
		}
		outNames[out] = "feature " + f.Name + " of " + v.Name
		val := alias + "." + fn
		if ttl != "" {
			val = "CASE WHEN epoch_us(" + alias + "." + quoteIdent(colTS) + ") >= epoch_us(e." + quoteIdent(colTS) + ") - " + ttl + " THEN " + val + " END"
		}
		sels = append(sels, val+" AS "+quoteIdent(out))
		cols = append(cols, Column{Name: out, Type: typ})
	}

	from := strings.Replace(rd.from, "$1", param(Param{Type: "STRING", Value: src.Path}), 1)
	order := append([]string{created + " DESC NULLS LAST"}, rd.lastRowOrder...)
	var sb strings.Builder
	sb.WriteString(alias)
	sb.WriteString(" AS (\nSELECT ")
	sb.WriteString(strings.Join(selects, ", "))
	sb.WriteString("\nFROM ")
	sb.WriteString(from)
	sb.WriteString(" AS src\nWHERE ")
	sb.WriteString(strings.Join(where, " AND "))
	sb.WriteString("\nQUALIFY row_number() OVER (PARTITION BY ")
	sb.WriteString(strings.Join(append(keys, event), ", "))
	sb.WriteString(" ORDER BY ")
	sb.WriteString(strings.Join(order, ", "))
	sb.WriteString(") = 1)")

	on = append(on, "e."+quoteIdent(colTS)+" >= "+alias+"."+quoteIdent(colTS))
	join = "ASOF LEFT JOIN " + alias + " AS " + alias + " ON " + strings.Join(on, " AND ")
	return sb.String(), join, sels, cols, nil
}

func columnNames(cs []Column) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = fmt.Sprintf("%q", c.Name)
	}
	return strings.Join(names, ", ")
}

func isInteger(t string) bool { return t == "INT32" || t == "INT64" }
