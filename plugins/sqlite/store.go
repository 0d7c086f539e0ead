package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/larder-dev/larder/abi"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// maxKeysPerQuery bounds the IN list of one SELECT, well under SQLite's variable limit.
const maxKeysPerQuery = 1000

// Result columns of the read query, in order.
var readTypes = []abi.Type{abi.TypeBytes, abi.TypeBytes, abi.TypeBytes, abi.TypeUnixTimestamp}

const (
	colKey = iota
	colFeature
	colValue
	colEventTS
)

// store is one plugin instance. Its slices are scratch space reused across calls so a read
// allocates (almost) nothing in steady state.
type store struct {
	db *sdk.SQLClient

	params  sdk.Params
	args    *sdk.ExecArgs
	sqlText map[sqlKey]string

	rows  []int32 // request rows of the view being read, sorted by entity key
	runs  []int32 // start index in rows of each distinct entity key, plus an end marker
	feats []int32 // feature indexes of the view, sorted by name
}

type sqlKey struct {
	table string
	n     int
}

func newStore(db *sdk.SQLClient) *store {
	return &store{
		db:      db,
		args:    sdk.NewExecArgs(abi.TypeBytes, abi.TypeString, abi.TypeBytes, abi.TypeInt64, abi.TypeInt64),
		sqlText: map[sqlKey]string{},
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

// Write upserts one row per (entity, feature) with a value, all in one EXEC (one
// transaction). Like Feast: last write wins, no timestamp comparison.
func (s *store) Write(b *sdk.WriteBatch) error {
	name, err := tableName(b.Project, b.View)
	if err != nil {
		return err
	}
	s.args.Reset()
	ek, fn, val, ets, cts := s.args.Col(0), s.args.Col(1), s.args.Col(2), s.args.Col(3), s.args.Col(4)
	for i := 0; i < b.Len(); i++ {
		key := b.EntityKey(i)
		event := toSeconds(b.EventTime(i))
		created, hasCreated := b.CreatedTime(i)
		for f, feature := range b.Features {
			v, ok := b.Value(i, f)
			if !ok {
				continue
			}
			ek.AppendBytes(key)
			fn.AppendString(feature)
			val.AppendBytes(v)
			ets.AppendInt64(event)
			if hasCreated {
				cts.AppendInt64(toSeconds(created))
			} else {
				cts.AppendNull()
			}
		}
	}
	if s.args.Len() == 0 {
		return nil
	}
	if _, err := s.db.ExecArgs(upsertSQL(name), s.args); err != nil {
		return sdk.Errorf(err, "writing %d rows of feature view %q to sqlite: %w", b.Len(), b.View, err)
	}
	return nil
}

// Read runs one query per feature view (per maxKeysPerQuery keys) and maps result rows
// back to request rows. Results arrive ordered by (entity_key, feature_name), and the
// request's keys and the view's features are sorted the same way (memcmp, SQLite's BINARY
// collation), so matching is a merge with a binary-search fallback: no hashing and no
// allocation per row.
func (s *store) Read(b *sdk.ReadBatch, resp *sdk.ReadResponse) error {
	for v := range b.Views {
		if err := s.readView(b, resp, v); err != nil {
			return err
		}
	}
	return nil
}

func (s *store) readView(b *sdk.ReadBatch, resp *sdk.ReadResponse, v int) error {
	view := &b.Views[v]
	s.rows = s.rows[:0]
	for i := 0; i < b.Len(); i++ {
		if b.View(i) == v {
			s.rows = append(s.rows, int32(i))
		}
	}
	if len(s.rows) == 0 || len(view.Features) == 0 {
		return nil
	}
	name, err := tableName(b.Project, view.Name)
	if err != nil {
		return err
	}
	slices.SortFunc(s.rows, func(x, y int32) int { return bytes.Compare(b.EntityKey(int(x)), b.EntityKey(int(y))) })
	s.runs = s.runs[:0]
	for i, r := range s.rows {
		if i == 0 || !bytes.Equal(b.EntityKey(int(r)), b.EntityKey(int(s.rows[i-1]))) {
			s.runs = append(s.runs, int32(i))
		}
	}
	nruns := len(s.runs)
	s.runs = append(s.runs, int32(len(s.rows)))

	s.feats = s.feats[:0]
	for f := range view.Features {
		s.feats = append(s.feats, int32(f))
	}
	slices.SortFunc(s.feats, func(x, y int32) int { return strings.Compare(view.Features[x], view.Features[y]) })

	for lo := 0; lo < nruns; lo += maxKeysPerQuery {
		hi := min(lo+maxKeysPerQuery, nruns)
		s.params.Reset()
		for r := lo; r < hi; r++ {
			s.params.Bytes(b.EntityKey(int(s.rows[s.runs[r]])))
		}
		res, err := s.db.QueryParams(s.selectSQL(name, hi-lo), readTypes, &s.params)
		if err != nil {
			return sdk.Errorf(err, "reading feature view %q from sqlite: %w", view.Name, err)
		}
		s.collect(b, resp, view, res, lo, hi)
	}
	return nil
}

// collect records the rows of one query result, whose keys are the runs [lo, hi).
func (s *store) collect(b *sdk.ReadBatch, resp *sdk.ReadResponse, view *sdk.ReadView, res *abi.Batch, lo, hi int) {
	keys, feats, vals := &res.Columns[colKey], &res.Columns[colFeature], &res.Columns[colValue]
	events := &res.Columns[colEventTS]
	run, f := -1, 0
	var runKey []byte
	for i := 0; i < res.Rows; i++ {
		if keys.IsNull(i) || feats.IsNull(i) || vals.IsNull(i) {
			continue // a row without a value is not a stored feature value
		}
		if k := keys.Bytes(i); run < 0 || !bytes.Equal(k, runKey) {
			run = s.findRun(b, k, run+1, lo, hi)
			if run < 0 {
				continue
			}
			runKey, f = k, 0
		}
		name := feats.Bytes(i)
		if f >= len(s.feats) || view.Features[s.feats[f]] != string(name) {
			p := s.findFeature(view, name)
			if p < 0 {
				continue // a feature of the view that was not requested
			}
			f = p
		}
		var ts int64 // a value stored without a timestamp is reported at the epoch
		if !events.IsNull(i) {
			ts = events.Timestamp(i)
		}
		fi := int(s.feats[f])
		val := vals.Bytes(i)
		for r := s.runs[run]; r < s.runs[run+1]; r++ {
			resp.Set(int(s.rows[r]), fi, val, ts)
		}
		f++
	}
}

// findRun returns the run in [lo, hi) whose key is k, trying guess first; -1 if none.
func (s *store) findRun(b *sdk.ReadBatch, k []byte, guess, lo, hi int) int {
	keyOf := func(run int) []byte { return b.EntityKey(int(s.rows[s.runs[run]])) }
	if guess >= lo && guess < hi && bytes.Equal(keyOf(guess), k) {
		return guess
	}
	i, j := lo, hi
	for i < j {
		m := int(uint(i+j) >> 1)
		if bytes.Compare(keyOf(m), k) < 0 {
			i = m + 1
		} else {
			j = m
		}
	}
	if i < hi && bytes.Equal(keyOf(i), k) {
		return i
	}
	return -1
}

// findFeature returns the position in s.feats of the feature called name, or -1.
func (s *store) findFeature(view *sdk.ReadView, name []byte) int {
	i, j := 0, len(s.feats)
	for i < j {
		m := int(uint(i+j) >> 1)
		if view.Features[s.feats[m]] < string(name) {
			i = m + 1
		} else {
			j = m
		}
	}
	if i < len(s.feats) && view.Features[s.feats[i]] == string(name) {
		return i
	}
	return -1
}

// selectSQL returns the read query for n keys, cached: the same few shapes repeat.
func (s *store) selectSQL(table string, n int) string {
	k := sqlKey{table, n}
	if q, ok := s.sqlText[k]; ok {
		return q
	}
	if len(s.sqlText) > 256 {
		clear(s.sqlText)
	}
	q := selectSQL(table, n)
	s.sqlText[k] = q
	return q
}

// toSeconds converts microseconds to whole seconds, truncating toward zero as Feast's
// int(datetime.timestamp()) does.
func toSeconds(micros int64) int64 { return micros / 1_000_000 }

// quoteIdent quotes a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
