package nativestore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// maxKeysPerQuery bounds the IN list of one SELECT, as plugins/sqlite does.
const maxKeysPerQuery = 1000

// SQLite is Feast's SQLite online store in plain Go. It is safe for concurrent use.
type SQLite struct {
	db   *sql.DB
	path string

	mu    sync.Mutex
	stmts map[string]*sql.Stmt // prepared statements by SQL text, like the host's sql capability
}

var _ host.OnlineStore = (*SQLite)(nil)

// NewSQLite opens (creating when missing) the SQLite database at path with the connection
// settings the host's sql capability uses: WAL, synchronous=NORMAL, a 5 s busy timeout and
// immediate write transactions.
func NewSQLite(path string) (*SQLite, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("opening native sqlite online store: bad database path %q", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening native sqlite online store %q: %w", path, err)
	}
	dsn := "file:" + abs + "?_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening native sqlite online store %q: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening native sqlite online store %q: %w", path, err)
	}
	return &SQLite{db: db, path: path, stmts: map[string]*sql.Stmt{}}, nil
}

func (s *SQLite) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[q]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(s.stmts) >= 256 {
		for k, old := range s.stmts {
			old.Close()
			delete(s.stmts, k)
		}
	}
	s.stmts[q] = st
	return st, nil
}

// Update creates the tables to keep and drops the tables to delete, idempotently.
func (s *SQLite) Update(ctx context.Context, req host.UpdateRequest) error {
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
	return s.ddl(ctx, "updating", req.Project, ddl.String())
}

// Teardown drops every table the request names.
func (s *SQLite) Teardown(ctx context.Context, req host.UpdateRequest) error {
	var ddl strings.Builder
	for _, list := range [][]host.Table{req.TablesToKeep, req.TablesToDelete} {
		for _, t := range list {
			name, err := tableName(req.Project, t.Name)
			if err != nil {
				return err
			}
			ddl.WriteString(dropTableSQL(name))
		}
	}
	return s.ddl(ctx, "tearing down", req.Project, ddl.String())
}

func (s *SQLite) ddl(ctx context.Context, what, project, ddl string) error {
	if ddl == "" {
		return nil
	}
	// A schema change invalidates cached statements' plans; SQLite re-prepares them, but
	// dropped tables would leave dead entries, so start afresh.
	s.mu.Lock()
	for k, st := range s.stmts {
		st.Close()
		delete(s.stmts, k)
	}
	s.mu.Unlock()
	if _, err := s.db.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("%s native sqlite online store tables of project %q: %w", what, project, err)
	}
	return nil
}

// Write upserts one row per (entity, feature) with a value, one statement execution per
// entity, in one transaction.
func (s *SQLite) Write(ctx context.Context, req host.WriteRequest) error {
	name, err := tableName(req.Project, req.View)
	if err != nil {
		return err
	}
	for i, r := range req.Rows {
		if len(r.Values) != len(req.Features) {
			return fmt.Errorf("writing feature view %q to native sqlite: row %d has %d values for %d features: %w",
				req.View, i, len(r.Values), len(req.Features), abi.ErrBadArgument)
		}
	}
	if len(req.Rows) == 0 || len(req.Features) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("writing feature view %q to native sqlite: %w", req.View, err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, upsertSQL(name, req.Features))
	if err != nil {
		return fmt.Errorf("writing feature view %q to native sqlite: %w", req.View, err)
	}
	defer st.Close()
	args := make([]any, 3+len(req.Features))
	for i, r := range req.Rows {
		args[0], args[1], args[2] = r.EntityKey, unixSeconds(r.EventTS), nil
		if !r.CreatedTS.IsZero() {
			args[2] = unixSeconds(r.CreatedTS)
		}
		for f, v := range r.Values {
			if v == nil {
				args[3+f] = nil
			} else {
				args[3+f] = v
			}
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("writing feature view %q to native sqlite: row %d: %w", req.View, i, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("writing feature view %q to native sqlite: commit: %w", req.View, err)
	}
	return nil
}

// Read runs one query per view (per maxKeysPerQuery keys) and maps rows back to the
// request; anything not stored is NOT_FOUND.
func (s *SQLite) Read(ctx context.Context, req host.ReadRequest) (*host.ReadResult, error) {
	res := &host.ReadResult{Views: make([][]host.FeatureValue, len(req.Views))}
	for v := range req.Views {
		out, err := s.readView(ctx, req.Project, &req.Views[v])
		if err != nil {
			return nil, err
		}
		res.Views[v] = out
	}
	return res, nil
}

func (s *SQLite) readView(ctx context.Context, project string, view *host.ReadView) ([]host.FeatureValue, error) {
	nf := len(view.Features)
	out := make([]host.FeatureValue, len(view.EntityKeys)*nf)
	for i := range out {
		out[i].Status = abi.FieldNotFound
	}
	if len(out) == 0 {
		return out, nil
	}
	name, err := tableName(project, view.Name)
	if err != nil {
		return nil, err
	}
	for lo := 0; lo < len(view.EntityKeys); lo += maxKeysPerQuery {
		hi := min(lo+maxKeysPerQuery, len(view.EntityKeys))
		if err := s.query(ctx, name, view, lo, hi, out); err != nil {
			return nil, fmt.Errorf("reading feature view %q from native sqlite: %w", view.Name, err)
		}
	}
	return out, nil
}

// query reads the keys [lo, hi) of view with the plugin's statement. Native code needs no
// particular row order (each row carries its position), so it runs the unordered variant
// and places rows by position.
func (s *SQLite) query(ctx context.Context, table string, view *host.ReadView, lo, hi int, out []host.FeatureValue) error {
	nf := len(view.Features)
	st, err := s.stmt(ctx, selectSQL(table, hi-lo, nf, false))
	if err != nil {
		return err
	}
	args := make([]any, 0, hi-lo+nf)
	for _, k := range view.EntityKeys[lo:hi] {
		args = append(args, k)
	}
	for _, f := range view.Features {
		args = append(args, f)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		pos   int64
		value []byte
		ts    any
	)
	base := lo * nf
	for rows.Next() {
		if err := rows.Scan(&pos, &value, &ts); err != nil {
			return err
		}
		if pos < 0 || pos >= int64((hi-lo)*nf) {
			return fmt.Errorf("query returned position %d, out of range", pos)
		}
		if value == nil {
			continue
		}
		event, err := eventTime(ts)
		if err != nil {
			return fmt.Errorf("feature %q: %w", view.Features[pos%int64(nf)], err)
		}
		out[base+int(pos)] = host.FeatureValue{Value: value, EventTS: event, Status: abi.FieldPresent}
	}
	return rows.Err()
}

// eventTime converts a scanned event_ts. The driver turns a "timestamp"-declared column
// into time.Time whether SQLite stored integer seconds or ISO text.
func eventTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case int64:
		return time.Unix(x, 0).UTC(), nil
	case nil:
		return time.Unix(0, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("event_ts of unexpected type %T", v)
}

// Close closes the database.
func (s *SQLite) Close(context.Context) error {
	s.mu.Lock()
	for k, st := range s.stmts {
		st.Close()
		delete(s.stmts, k)
	}
	s.mu.Unlock()
	return s.db.Close()
}

// unixSeconds is t in whole Unix seconds, rounded down, as the host binds a timestamp
// parameter (Feast's int(datetime.timestamp()) truncates toward zero instead; the two differ
// only before 1970).
func unixSeconds(t time.Time) int64 {
	us := t.UnixMicro()
	s := us / 1_000_000
	if us%1_000_000 < 0 {
		s--
	}
	return s
}
