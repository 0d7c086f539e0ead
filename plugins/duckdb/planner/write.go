package planner

import (
	"fmt"
	"strings"

	sdk "github.com/larder-dev/larder/sdk-go"
)

// Aliases of the SDK's offline write types (spec §9.9).
type (
	WriteRequest = sdk.OfflineWriteRequest
	WritePlan    = sdk.WritePlan
)

// Helper columns of a write plan: which side of the union a row comes from and its
// position there, so the new file has the old rows in file order, then the pushed rows in
// push order. The prefix keeps them clear of user columns; they are not in the result.
const (
	colPart = "__larder_part"
	colPos  = "__larder_pos"
)

// PlanWrite plans an offline write (spec §9.9): one SELECT yielding the whole new contents
// of the source file — its existing rows unchanged, then the pushed rows with each column
// cast to the source column's engine type — which the host copies to a temp file and
// renames over the source.
//
// Pushed columns are matched to source columns by name, directly or through field_mapping
// reversed (a client may push a feature's name for the source column it is mapped from).
// Every source column needs exactly one pushed column and every pushed column a source
// column, as Feast's write_to_offline_store requires; otherwise BAD_ARGUMENT names them.
func PlanWrite(r *WriteRequest) (*WritePlan, error) {
	src := &r.Source
	if _, ok := readers[src.FileFormat]; !ok {
		return nil, bad("source.file_format %q is not supported (supported: parquet, csv)", src.FileFormat)
	}
	if src.Path == "" {
		return nil, bad("source.path is empty: this plugin writes local Parquet or CSV files")
	}
	if len(r.SourceColumns) == 0 {
		return nil, bad("source_columns is empty")
	}
	if err := checkName("rows.relation", r.Rows.Relation); err != nil {
		return nil, err
	}
	if err := checkName("rows.row_column", r.Rows.RowColumn); err != nil {
		return nil, err
	}
	toSource, err := reverseMapping(src.FieldMapping)
	if err != nil {
		return nil, err
	}
	srcIndex := make(map[string]int, len(r.SourceColumns))
	for i, c := range r.SourceColumns {
		field := fmt.Sprintf("source_columns[%d]", i)
		if err := checkName(field+".name", c.Name); err != nil {
			return nil, err
		}
		if _, dup := srcIndex[c.Name]; dup {
			return nil, bad("%s: column %q appears twice", field, c.Name)
		}
		// The engine type is spliced into a CAST: it comes from the host's engine, but a
		// statement separator or comment in it is never a type.
		if t := c.EngineType; t == "" || strings.ContainsAny(t, ";\x00") || strings.Contains(t, "--") || strings.Contains(t, "/*") {
			return nil, bad("%s (%q): engine_type %q is not a type name", field, c.Name, t)
		}
		srcIndex[c.Name] = i
	}

	// pushedFor[i] is the pushed column written to source column i.
	pushedFor := make([]string, len(r.SourceColumns))
	var unknown []string
	for i, p := range r.Rows.Columns {
		field := fmt.Sprintf("rows.columns[%d]", i)
		if err := checkName(field+".name", p.Name); err != nil {
			return nil, err
		}
		target, ok := srcIndex[p.Name]
		if !ok {
			if s, mapped := toSource[p.Name]; mapped {
				target, ok = srcIndex[s]
			}
		}
		if !ok {
			unknown = append(unknown, p.Name)
			continue
		}
		if prev := pushedFor[target]; prev != "" {
			return nil, bad("pushed columns %q and %q are both written to source column %q", prev, p.Name, r.SourceColumns[target].Name)
		}
		pushedFor[target] = p.Name
	}
	if len(unknown) > 0 {
		return nil, bad("pushed column%s %s %s not in source %q (%s); its columns are %s",
			plural(len(unknown)), quoteList(unknown), isAre(len(unknown)), src.Name, src.Path, quoteList(sourceNames(r.SourceColumns)))
	}
	var missing []string
	for i, p := range pushedFor {
		if p == "" {
			name := r.SourceColumns[i].Name
			if m, ok := src.FieldMapping[name]; ok {
				name += " (or " + m + ")"
			}
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, bad("the push lacks column%s %s of source %q (%s); an offline write needs every column of the source",
			plural(len(missing)), strings.Join(missing, ", "), src.Name, src.Path)
	}

	var old, pushed, out []string
	for i, c := range r.SourceColumns {
		q := quoteIdent(c.Name)
		old = append(old, "s."+q)
		pushed = append(pushed, "CAST(r."+quoteIdent(pushedFor[i])+" AS "+c.EngineType+") AS "+q)
		out = append(out, q)
	}
	rowCol := "r." + quoteIdent(r.Rows.RowColumn)
	var sql string
	switch src.FileFormat {
	case "csv":
		// CSV has no row number to order by; the union keeps the old rows first in
		// practice, and ties between CSV rows are arbitrary anyway (spec §9.4).
		sql = "SELECT " + strings.Join(old, ", ") + "\nFROM read_csv_auto($1) AS s\nUNION ALL\nSELECT " +
			strings.Join(pushed, ", ") + "\nFROM " + quoteIdent(r.Rows.Relation) + " AS r"
	default:
		// Parquet: the last row in the file wins a tie (spec §9.4), so the order is part of
		// the meaning: old rows by row number, then pushed rows by push position.
		sql = "SELECT " + strings.Join(out, ", ") + "\nFROM (\n" +
			"SELECT " + strings.Join(old, ", ") + ", 0 AS " + quoteIdent(colPart) + ", s.file_row_number AS " + quoteIdent(colPos) +
			"\nFROM read_parquet($1, file_row_number = true) AS s\nUNION ALL\n" +
			"SELECT " + strings.Join(pushed, ", ") + ", 1, " + rowCol + "\nFROM " + quoteIdent(r.Rows.Relation) + " AS r\n" +
			") AS u\nORDER BY u." + quoteIdent(colPart) + ", u." + quoteIdent(colPos)
	}
	return &WritePlan{Dialect: "duckdb", SQL: sql, Params: []Param{{Type: "STRING", Value: src.Path}}}, nil
}

func sourceNames(cols []sdk.SourceColumn) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
