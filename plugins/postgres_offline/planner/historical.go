package planner

import (
	"encoding/json"
	"fmt"
	"strings"

	sdk "github.com/larder-dev/larder/sdk-go"
)

// Names the plan uses for its own columns; entity columns may not take them.
const (
	colRow = "__larder_row" // entity row id: keeps duplicates one-for-one and the order
	colTS  = "__larder_ts"  // the entity row's timestamp as timestamptz
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

// PlanHistorical plans a point-in-time join (spec §9.6). PostgreSQL has no ASOF join.
// A keyed view joins each entity row with the source rows of its key it may see (event
// at or before the entity time and, with a TTL, not older) and keeps the best with
// DISTINCT ON, ordered as the spec ranks rows (event, then created, nulls lowest). An
// entity-less view, where that join would pair every entity row with every source row,
// carries the latest row forward instead: its source rows are numbered in (event,
// created nulls first) order, merged with the entity rows into one stream ordered by
// time (source rows first on a tie), and each entity row takes the greatest number seen
// so far; the TTL is then checked on that row (exact: every other candidate is older).
// The entity rows are numbered first, by the host's row column when it loaded them into
// a table, so duplicates stay one-for-one and the result keeps their order; each view
// is LEFT JOINed on that number.
func PlanHistorical(r *HistoricalRequest) (*Plan, error) {
	var params []Param
	param := func(p Param) string {
		params = append(params, p)
		return fmt.Sprintf("$%d", len(params))
	}

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
		if c.Name == colRow || c.Name == colTS || (es.RowColumn != "" && c.Name == es.RowColumn) {
			return nil, bad("%s: the entity column name %q is reserved by this plugin", field, c.Name)
		}
		if _, dup := entityTypes[c.Name]; dup {
			return nil, bad("%s: the entity source has two columns named %q", field, c.Name)
		}
		expr, typ, err := typedColumn(field, c, func(f, name string) (string, error) {
			if err := checkName(f, name); err != nil {
				return "", err
			}
			return "e." + quoteIdent(name), nil
		})
		if err != nil {
			return nil, err
		}
		entityTypes[c.Name] = typ
		entitySelects = append(entitySelects, expr+" AS "+quoteIdent(c.Name))
		schema = append(schema, Column{Name: c.Name, Type: typ})
	}
	switch t, ok := entityTypes[tsField]; {
	case !ok:
		return nil, bad("entities: the timestamp column %q is not a column of the entity source (columns: %s)", tsField, columnNames(es.Columns))
	case t != "UNIX_TIMESTAMP":
		return nil, bad("entities: the timestamp column %q has type %s, want UNIX_TIMESTAMP", tsField, t)
	}
	var entityFrom, rowExpr string
	switch {
	case es.Path != "":
		return nil, bad("entities.path %q: PostgreSQL cannot read files; the host loads an entity file into a table and passes entities.table", es.Path)
	case es.Table != "" && es.Query != "":
		return nil, bad("entities: set table or query, not both")
	case es.Table != "":
		from, err := qualifiedName("entities.table", es.Table)
		if err != nil {
			return nil, err
		}
		entityFrom = from + " AS e"
		rowExpr = "row_number() OVER ()"
		if es.RowColumn != "" {
			if err := checkName("entities.row_column", es.RowColumn); err != nil {
				return nil, err
			}
			rowExpr = "CAST(e." + quoteIdent(es.RowColumn) + " AS bigint)"
		}
	case es.Query != "":
		// The operator's own SQL for the database (spec §9.6): taken verbatim. Its row
		// order is best effort, as PostgreSQL keeps no order through a subquery.
		entityFrom = "(\n" + trimQuery(es.Query) + "\n) AS e"
		rowExpr = "row_number() OVER ()"
	default:
		return nil, bad("entities: neither table nor query is set")
	}
	entitySelects = append(entitySelects,
		"CAST(e."+quoteIdent(tsField)+" AS timestamptz) AS "+quoteIdent(colTS),
		rowExpr+" AS "+quoteIdent(colRow))

	var sb strings.Builder
	sb.WriteString("WITH \"__e\" AS MATERIALIZED (\nSELECT ")
	sb.WriteString(strings.Join(entitySelects, ", "))
	sb.WriteString("\nFROM ")
	sb.WriteString(entityFrom)
	sb.WriteString(")")

	outNames := make(map[string]string, len(es.Columns))
	var outSelects []string
	for _, c := range es.Columns {
		outNames[c.Name] = "an entity column"
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
	return &Plan{Dialect: Dialect, SQL: sb.String(), Params: params, ResultSchema: schema}, nil
}

// planView returns view vi's CTE (the best source row per entity row), its LEFT JOIN,
// its output expressions and their schema.
func planView(vi int, v *sdk.HistoricalView, fullNames bool, entityTypes map[string]string,
	param func(Param) string, outNames map[string]string) (cte, join string, sels []string, cols []Column, err error) {
	at := fmt.Sprintf("views[%d]", vi)
	fail := func(err error) (string, string, []string, []Column, error) { return "", "", nil, nil, err }
	if err := checkName(at+".name", v.Name); err != nil {
		return fail(err)
	}
	src := &v.Source
	from, err := sourceFrom(at+".source", src)
	if err != nil {
		return fail(err)
	}
	if src.TimestampField == "" {
		return fail(bad("%s (%s): source.timestamp_field is empty", at, v.Name))
	}
	if v.TTL < 0 {
		return fail(bad("%s (%s): ttl %d is negative", at, v.Name, v.TTL))
	}
	column, err := mappedColumns(src.FieldMapping)
	if err != nil {
		return fail(err)
	}
	event, created, err := timestamps(at+".source", src, column)
	if err != nil {
		return fail(err)
	}
	alias := quoteIdent(fmt.Sprintf("__v%d", vi))
	rows := quoteIdent(fmt.Sprintf("__s%d", vi))
	row := quoteIdent(colRow)
	ts := quoteIdent(colTS)

	// Internal names (k0, f0, …) keep source names from ever meeting each other.
	var srcSel, featSel, keys, keyExprs, entKeys, notNull, keyOn []string
	for i, k := range v.JoinKeys {
		field := fmt.Sprintf("%s.join_keys[%d]", at, i)
		expr, typ, err := typedColumn(field, Column{Name: k.Name, Type: k.Type}, column)
		if err != nil {
			return fail(err)
		}
		ec := k.EntityColumn
		if ec == "" {
			ec = k.Name
		}
		et, ok := entityTypes[ec]
		if !ok {
			return fail(bad("%s (%s): join key %q needs the entity column %q, which the entity source does not have", field, v.Name, k.Name, ec))
		}
		// Integers of either width compare by value; anything else is a mistake.
		if et != typ && !(isInteger(et) && isInteger(typ)) {
			return fail(bad("%s (%s): join key %q has type %s but the entity column %q has type %s", field, v.Name, k.Name, typ, ec, et))
		}
		pt, _, _ := pgType(field, k.Name, typ)
		kn := quoteIdent(fmt.Sprintf("k%d", i))
		srcSel = append(srcSel, expr+" AS "+kn)
		keys = append(keys, kn)
		entKeys = append(entKeys, "CAST(e."+quoteIdent(ec)+" AS "+pt+") AS "+kn)
		keyExprs = append(keyExprs, expr)
		notNull = append(notNull, expr+" IS NOT NULL")
		// Equality never holds for NULL, so null keys on either side never match.
		keyOn = append(keyOn, "e."+quoteIdent(ec)+" = "+expr)
	}
	prefix := v.NameToUse
	if prefix == "" {
		prefix = v.Name
	}
	for i, f := range v.Features {
		field := fmt.Sprintf("%s.features[%d]", at, i)
		expr, typ, err := typedColumn(field, f, column)
		if err != nil {
			return fail(err)
		}
		fn := quoteIdent(fmt.Sprintf("f%d", i))
		srcSel = append(srcSel, expr+" AS "+fn)
		featSel = append(featSel, expr+" AS "+fn)
		out := f.Name
		if fullNames {
			out = prefix + "__" + f.Name
		}
		if what, dup := outNames[out]; dup {
			return fail(bad("%s (%s): the output column %q is also %s (use full feature names to tell them apart)", field, v.Name, out, what))
		}
		outNames[out] = "feature " + f.Name + " of " + v.Name
		sels = append(sels, alias+"."+fn+" AS "+quoteIdent(out))
		cols = append(cols, Column{Name: out, Type: typ})
	}

	join = "LEFT JOIN " + alias + " ON " + alias + "." + row + " = e." + row
	ttl := ""
	if v.TTL > 0 {
		ttl = "CAST(" + param(Param{Type: "INT64", Value: v.TTL}) + " AS bigint) * interval '1 microsecond'"
	}
	var sb strings.Builder
	if len(v.JoinKeys) > 0 {
		// A keyed view: join each entity row with the source rows of its key that it may
		// see and keep the best (DISTINCT ON, ordered as the spec ranks rows). A hash join
		// on the key makes this proportional to those pairs, which for the usual history
		// per entity is cheaper than sorting both inputs (BENCHMARKS.md).
		on := append(keyOn, event+" <= e."+ts)
		if ttl != "" {
			// Both bounds inclusive (spec §9.6); microsecond arithmetic is exact here.
			on = append(on, event+" >= e."+ts+" - "+ttl)
		}
		sb.WriteString(alias)
		sb.WriteString(" AS (\nSELECT DISTINCT ON (e." + row + ") e." + row + ", ")
		sb.WriteString(strings.Join(featSel, ", "))
		sb.WriteString("\nFROM \"__e\" AS e JOIN ")
		sb.WriteString(from)
		sb.WriteString(" AS src ON ")
		sb.WriteString(strings.Join(on, " AND "))
		sb.WriteString("\nORDER BY e." + row + ", " + event + " DESC, " + created + " DESC NULLS LAST)")
		return sb.String(), join, sels, cols, nil
	}

	// An entity-less view would pair every entity row with every source row, so it
	// carries the latest row forward instead, in one sort of both inputs.
	// The source rows that can match anything, numbered in (keys, event, created) order,
	// nulls first: within one key the greatest number at or before a time is the row the
	// spec picks (latest event, then latest created, nulls lowest).
	sb.WriteString(rows)
	sb.WriteString(" AS MATERIALIZED (\nSELECT ")
	sb.WriteString(strings.Join(append(srcSel, event+" AS "+ts,
		"row_number() OVER (ORDER BY "+strings.Join(append(keyExprs, event, created+" NULLS FIRST"), ", ")+") AS \"seq\""), ", "))
	sb.WriteString("\nFROM ")
	sb.WriteString(from)
	sb.WriteString(" AS src\nWHERE ")
	sb.WriteString(strings.Join(append([]string{event + " IS NOT NULL"}, notNull...), " AND "))
	sb.WriteString("),\n")

	// Carry forward: the entity rows and the source rows in one stream per key, ordered by
	// time with source rows first on a tie (event <= entity time); each entity row takes
	// the greatest source number seen so far. One sort of both inputs instead of a join
	// of every entity row with every source row of its key.
	partition := ""
	if len(keys) > 0 {
		partition = "PARTITION BY " + strings.Join(keys, ", ") + " "
	}
	entSel := append([]string{"e." + row}, entKeys...)
	entSel = append(entSel, "e."+ts, "1 AS \"kind\"", "CAST(NULL AS bigint) AS \"seq\"")
	srcUnion := append([]string{"CAST(NULL AS bigint)"}, keys...)
	srcUnion = append(srcUnion, ts, "0", "\"seq\"")
	sb.WriteString(alias)
	sb.WriteString(" AS (\nSELECT u.")
	sb.WriteString(row)
	for i := range v.Features {
		sb.WriteString(", s.")
		sb.WriteString(quoteIdent(fmt.Sprintf("f%d", i)))
	}
	sb.WriteString("\nFROM (SELECT ")
	sb.WriteString(row)
	sb.WriteString(", ")
	sb.WriteString(ts)
	sb.WriteString(", \"kind\", max(\"seq\") OVER (")
	sb.WriteString(partition)
	sb.WriteString("ORDER BY " + ts + ", \"kind\" ROWS UNBOUNDED PRECEDING) AS \"best\"\nFROM (SELECT ")
	sb.WriteString(strings.Join(entSel, ", "))
	sb.WriteString(" FROM \"__e\" AS e WHERE e.")
	sb.WriteString(ts)
	sb.WriteString(" IS NOT NULL\nUNION ALL SELECT ")
	sb.WriteString(strings.Join(srcUnion, ", "))
	sb.WriteString(" FROM ")
	sb.WriteString(rows)
	sb.WriteString(") AS x) AS u\nJOIN ")
	sb.WriteString(rows)
	sb.WriteString(" AS s ON s.\"seq\" = u.\"best\"\nWHERE u.\"kind\" = 1")
	if ttl != "" {
		// Both bounds inclusive (spec §9.6), applied to the chosen row: if the latest
		// candidate is older than the TTL, every other one is older still.
		sb.WriteString(" AND s." + ts + " >= u." + ts + " - " + ttl)
	}
	sb.WriteString(")")
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
