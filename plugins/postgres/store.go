package main

import (
	"encoding/binary"
	"encoding/json"
	"strings"

	"github.com/larder-dev/larder/abi"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// maxKeysPerQuery bounds the keys of one SELECT (PostgreSQL allows 65535 parameters).
const maxKeysPerQuery = 1000

// maxRowsPerExec bounds the (entity, feature) rows of one upsert statement, and so the
// guest memory its parameters take twice (arrays and encoded request).
const maxRowsPerExec = 50_000

// Result columns of the read query, in order.
var readTypes = []abi.Type{abi.TypeInt64, abi.TypeBytes, abi.TypeUnixTimestamp}

const (
	colPos = iota
	colValue
	colEventTS
)

var le = binary.LittleEndian

// store is one plugin instance; its buffers are reused across calls.
type store struct {
	db      *sdk.SQLClient
	params  sdk.Params
	args    *sdk.ExecArgs
	chunk   chunk
	sqlText map[[3]any]string
}

func newStore(db *sdk.SQLClient) *store {
	return &store{
		db:      db,
		args:    sdk.NewExecArgs(abi.TypeBytesList, abi.TypeStringList, abi.TypeBytesList, abi.TypeStringList, abi.TypeInt64List, abi.TypeInt64List),
		sqlText: map[[3]any]string{},
	}
}

// Feast's Postgres keys the host turns into the capability's binding; they may reach the
// plugin when an operator passes them through, and are ignored then.
var connectionKeys = map[string]bool{"host": true, "port": true, "database": true, "db_schema": true, "user": true,
	"password": true, "sslmode": true, "sslkey_path": true, "sslcert_path": true, "sslrootcert_path": true,
	"min_conn": true, "max_conn": true, "keepalives_idle": true, "conn_type": true, "vector_enabled": true, "vector_len": true}

// Init accepts Feast's postgres online_store keys; the database itself is bound by the
// operator to the "online" capability.
func (s *store) Init(config []byte) error {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(config, &cfg); err != nil {
		return sdk.Errorf(abi.ErrBadArgument, "postgres plugin config must be a JSON object: %v", err)
	}
	for k := range cfg {
		if !connectionKeys[k] {
			return sdk.Errorf(abi.ErrBadArgument, "postgres plugin config: unknown field %q (the database is configured on the \"online\" capability)", k)
		}
	}
	return nil
}

// Update creates the tables to keep and drops the tables to delete, idempotently.
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
		return sdk.Errorf(err, "updating postgres online store tables of project %q: %w", req.Project, err)
	}
	return nil
}

// Teardown drops every table the request names.
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
		return sdk.Errorf(err, "tearing down postgres online store tables of project %q: %w", req.Project, err)
	}
	return nil
}

// Write upserts one row per (entity, feature) with a value: one statement per chunk of
// up to maxRowsPerExec rows (array parameters, see upsertSQL), each its own transaction.
// A chunk ends early where an entity key repeats, so later rows of a batch win as they
// would row by row. Like Feast: last write wins, no timestamp comparison; timestamps keep
// their microseconds (TIMESTAMPTZ). Rows are upserts, so a write that fails half-way
// converges when retried.
func (s *store) Write(b *sdk.WriteBatch) error {
	name, err := tableName(b.Project, b.View)
	if err != nil {
		return err
	}
	c := &s.chunk
	c.reset()
	for i := 0; i < b.Len(); i++ {
		key := b.EntityKey(i)
		if _, dup := c.seen[string(key)]; dup || len(c.keys) >= maxRowsPerExec {
			if err := s.flush(name, b); err != nil {
				return err
			}
		}
		c.seen[string(key)] = struct{}{}
		event := b.EventTime(i)
		created, hasCreated := b.CreatedTime(i)
		if !hasCreated {
			created = nullCreated
		}
		for f, feature := range b.Features {
			v, ok := b.Value(i, f)
			if !ok {
				continue
			}
			str, ok := valueText(v)
			// PostgreSQL text cannot hold NUL; Feast's writer would fail on such a string.
			if !ok || strings.ContainsRune(str, 0) {
				str = ""
			}
			c.keys = append(c.keys, key)
			c.feats = append(c.feats, feature)
			c.vals = append(c.vals, v)
			c.texts = append(c.texts, str)
			c.events = append(c.events, event)
			c.created = append(c.created, created)
		}
	}
	return s.flush(name, b)
}

// chunk is the array parameters of one upsert statement.
type chunk struct {
	keys, vals      [][]byte
	feats, texts    []string
	events, created []int64
	seen            map[string]struct{}
}

func (c *chunk) reset() {
	c.keys, c.vals, c.feats, c.texts = c.keys[:0], c.vals[:0], c.feats[:0], c.texts[:0]
	c.events, c.created = c.events[:0], c.created[:0]
	if c.seen == nil {
		c.seen = map[string]struct{}{}
	}
	clear(c.seen)
}

func (s *store) flush(table string, b *sdk.WriteBatch) error {
	c := &s.chunk
	defer c.reset()
	if len(c.keys) == 0 {
		return nil
	}
	s.args.Reset()
	s.args.Col(0).AppendBytesList(c.keys)
	s.args.Col(1).AppendStringList(c.feats)
	s.args.Col(2).AppendBytesList(c.vals)
	s.args.Col(3).AppendStringList(c.texts)
	s.args.Col(4).AppendInt64List(c.events)
	s.args.Col(5).AppendInt64List(c.created)
	if _, err := s.db.ExecArgs(upsertSQL(table), s.args); err != nil {
		return sdk.Errorf(err, "writing %d rows of feature view %q to postgres: %w", b.Len(), b.View, err)
	}
	return nil
}

// Read answers run by run (consecutive request rows of one view), one query per run (per
// maxKeysPerQuery keys); the query returns one row per (key, feature) in response order.
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
			s.params.Reset()
			for r := lo; r < hi; r++ {
				s.params.Bytes(b.EntityKey(r))
			}
			for _, f := range view.Features {
				s.params.String(f)
			}
			res, err := s.db.QueryParams(s.selectSQL(name, hi-lo, nf), readTypes, &s.params)
			if err != nil {
				return sdk.Errorf(err, "reading feature view %q from postgres: %w", view.Name, err)
			}
			if !inOrder(res, (hi-lo)*nf) {
				return sdk.Errorf(abi.ErrInternal, "query over %d keys returned rows out of order or not %d of them", hi-lo, (hi-lo)*nf)
			}
			if err := resp.Append(res.Rows, &res.Columns[colValue], &res.Columns[colEventTS]); err != nil {
				return err
			}
		}
	}
	return nil
}

// inOrder reports whether res has want rows whose positions are 0, 1, 2, ...
func inOrder(res *abi.Batch, want int) bool {
	pos := &res.Columns[colPos]
	if res.Rows != want || pos.NullCount > 0 || len(pos.Values) < 8*want {
		return false
	}
	for i := 0; i < want; i++ {
		if le.Uint64(pos.Values[i*8:]) != uint64(i) {
			return false
		}
	}
	return true
}

// selectSQL returns the read query for n keys and nf features, cached.
func (s *store) selectSQL(table string, n, nf int) string {
	k := [3]any{table, n, nf}
	if q, ok := s.sqlText[k]; ok {
		return q
	}
	if len(s.sqlText) > 256 {
		clear(s.sqlText)
	}
	q := selectSQL(table, n, nf)
	s.sqlText[k] = q
	return q
}
