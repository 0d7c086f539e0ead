package main

import (
	"encoding/binary"
	"encoding/json"
	"strings"

	"github.com/larder-dev/larder/abi"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// maxKeysPerQuery bounds the IN list of one SELECT, well under SQLite's variable limit.
const maxKeysPerQuery = 1000

// Result columns of the read query, in order.
var readTypes = []abi.Type{abi.TypeInt64, abi.TypeBytes, abi.TypeUnixTimestamp}

const (
	colPos = iota
	colValue
	colEventTS
)

var le = binary.LittleEndian

// store is one plugin instance. Its slices are scratch space reused across calls so a read
// allocates (almost) nothing in steady state.
type store struct {
	db *sdk.SQLClient

	params  sdk.Params
	cols    []*abi.Column
	stmts   map[sqlKey]*sdk.Stmt
	upserts map[string]string
}

type sqlKey struct {
	table   string
	n, nf   int
	ordered bool
}

func newStore(db *sdk.SQLClient) *store {
	return &store{
		db:      db,
		upserts: map[string]string{},
		stmts:   map[sqlKey]*sdk.Stmt{},
	}
}

// Init accepts an empty config object: the database itself is bound by the operator to the
// "online" capability, so the plugin has nothing of its own to configure.
func (s *store) Init(config []byte) error {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(config, &cfg); err != nil {
		return sdk.Errorf(abi.ErrBadArgument, "sqlite plugin config must be a JSON object: %v", err)
	}
	for k := range cfg {
		return sdk.Errorf(abi.ErrBadArgument, "sqlite plugin config: unknown field %q (the database is configured on the \"online\" capability)", k)
	}
	return nil
}

// Update creates the tables to keep (Feast's DDL, so Feast can use them too) and drops the
// tables to delete. Every statement is IF [NOT] EXISTS, so it is idempotent.
func (s *store) Update(req sdk.UpdateRequest) error {
	var ddl strings.Builder
	for _, t := range req.TablesToKeep {
		name, err := tableName(req.Project, t.Name)
		if err != nil {
			return err
		}
		ddl.WriteString(createTableSQL(name))
	}
	for _, t := range req.TablesToDelete {
		name, err := tableName(req.Project, t.Name)
		if err != nil {
			return err
		}
		ddl.WriteString(dropTableSQL(name))
	}
	if ddl.Len() == 0 {
		return nil
	}
	if err := s.db.DDL(ddl.String()); err != nil {
		return sdk.Errorf(err, "updating sqlite online store tables of project %q: %w", req.Project, err)
	}
	return nil
}

// Teardown drops every table the request names. Feast deletes the whole database file;
// a plugin cannot, and the file may hold other projects' tables.
func (s *store) Teardown(req sdk.UpdateRequest) error {
	var ddl strings.Builder
	for _, list := range [][]sdk.Table{req.TablesToKeep, req.TablesToDelete} {
		for _, t := range list {
			name, err := tableName(req.Project, t.Name)
			if err != nil {
				return err
			}
			ddl.WriteString(dropTableSQL(name))
		}
	}
	if ddl.Len() == 0 {
		return nil
	}
	if err := s.db.DDL(ddl.String()); err != nil {
		return sdk.Errorf(err, "tearing down sqlite online store tables of project %q: %w", req.Project, err)
	}
	return nil
}

// Write upserts one row per (entity, feature) with a value: one statement execution per
// entity row, all in one EXEC (one transaction), whose parameters are the request's own
// columns passed through whole. Like Feast: last write wins, no timestamp comparison.
func (s *store) Write(b *sdk.WriteBatch) error {
	name, err := tableName(b.Project, b.View)
	if err != nil {
		return err
	}
	if b.Len() == 0 || len(b.Features) == 0 {
		return nil
	}
	s.cols = append(s.cols[:0], b.EntityKeyColumn(), b.EventTimeColumn(), b.CreatedTimeColumn())
	for f := range b.Features {
		s.cols = append(s.cols, b.ValueColumn(f))
	}
	if _, err := s.db.ExecColumns(s.upsert(name, b.Features), b.Len(), s.cols...); err != nil {
		return sdk.Errorf(err, "writing %d rows of feature view %q to sqlite: %w", b.Len(), b.View, err)
	}
	return nil
}

// upsert returns the write statement for table and features, cached.
func (s *store) upsert(table string, features []string) string {
	key := table + "\x00" + strings.Join(features, "\x00")
	if q, ok := s.upserts[key]; ok {
		return q
	}
	if len(s.upserts) > 256 {
		clear(s.upserts)
	}
	q := upsertSQL(table, features)
	s.upserts[key] = q
	return q
}

// Read answers run by run (a run is consecutive request rows of one view; a host sends
// one per view), with one query per run (per maxKeysPerQuery keys). The query returns
// exactly one row per (key, requested feature) in response order (see selectSQL), so its
// value and event_ts columns become the response as they are, with no per-row work here:
// per-row work is what costs in a Go Wasm guest.
func (s *store) Read(b *sdk.ReadBatch, resp *sdk.ReadResponse) error {
	for _, run := range b.Runs() {
		view := &b.Views[run.View]
		nf := len(view.Features)
		if nf == 0 {
			continue
		}
		name, err := tableName(b.Project, view.Name)
		if err != nil {
			return err
		}
		for lo := run.Start; lo < run.End; lo += maxKeysPerQuery {
			hi := min(lo+maxKeysPerQuery, run.End)
			res, err := s.query(b, view, name, lo, hi)
			if err != nil {
				return sdk.Errorf(err, "reading feature view %q from sqlite: %w", view.Name, err)
			}
			if err := resp.Append(res.Rows, &res.Columns[colValue], &res.Columns[colEventTS]); err != nil {
				return err
			}
		}
	}
	return nil
}

// query reads request rows [lo, hi) of view. SQLite returns the rows of the unordered
// query in response order (its plan scans the key list, then the feature list); the
// position column proves it, and if a future plan ever disagrees, the ORDER BY variant
// is run instead.
func (s *store) query(b *sdk.ReadBatch, view *sdk.ReadView, table string, lo, hi int) (*abi.Batch, error) {
	s.params.Reset()
	for r := lo; r < hi; r++ {
		s.params.Bytes(b.EntityKey(r))
	}
	for _, f := range view.Features {
		s.params.String(f)
	}
	want := (hi - lo) * len(view.Features)
	for _, ordered := range []bool{false, true} {
		res, err := s.selectStmt(table, hi-lo, len(view.Features), ordered).Query(&s.params)
		if err != nil {
			return nil, err
		}
		if inOrder(res, want) {
			return res, nil
		}
	}
	return nil, sdk.Errorf(abi.ErrInternal, "query over %d keys returned rows out of order or not %d of them", hi-lo, want)
}

// inOrder reports whether res has want rows whose positions are 0, 1, 2, ...
func inOrder(res *abi.Batch, want int) bool {
	pos := &res.Columns[colPos]
	if res.Rows != want || pos.NullCount > 0 || len(pos.Values) < 8*want {
		return false
	}
	v := pos.Values
	for i := 0; i < want; i++ {
		if le.Uint64(v[i*8:]) != uint64(i) {
			return false
		}
	}
	return true
}

// selectStmt returns the read query for n keys and nf features, prepared once: the same few
// shapes repeat.
func (s *store) selectStmt(table string, n, nf int, ordered bool) *sdk.Stmt {
	k := sqlKey{table, n, nf, ordered}
	if q, ok := s.stmts[k]; ok {
		return q
	}
	if len(s.stmts) > 256 {
		clear(s.stmts)
	}
	q := s.db.Prepare(selectSQL(table, n, nf, ordered), readTypes)
	s.stmts[k] = q
	return q
}

// quoteIdent quotes a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
