package host

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/feast"
)

// PushRequest pushes a frame of rows to every feature view fed by a push source
// (Feast's PushFeaturesRequest).
type PushRequest struct {
	PushSourceName string
	// DF is the frame, column by column: join keys, the event timestamp column of the
	// source, optionally its created-timestamp column, and the views' features.
	DF []Column
	// To is where the rows go: PushOnline (default when empty), PushOffline or
	// PushOnlineAndOffline.
	To string
	// TransformOnWrite applies write-time on-demand transformations (Feast's default
	// true); kept for the transformation work, which has none to apply yet.
	TransformOnWrite bool
}

// WriteToOnlineStoreRequest writes a frame of rows to one feature view's online table
// (Feast's WriteToFeatureStoreRequest).
type WriteToOnlineStoreRequest struct {
	FeatureViewName  string
	DF               []Column
	TransformOnWrite bool
}

// Push destinations, as Feast's /push spells them.
const (
	PushOnline           = "online"
	PushOffline          = "offline"
	PushOnlineAndOffline = "online_and_offline"
)

// Push writes a frame to every feature view fed by the push source (Feast's /push): to
// the online store, and/or appended to the views' batch sources through the offline
// store's write plans (ABI spec §9.9; an offline store without them fails the push with
// abi.ErrUnimplemented, writing nothing).
//
// Order and atomicity: everything that can reject the frame is checked first (online rows
// converted, offline columns typed and the writes planned), so a bad frame writes
// nothing. Then the offline appends run (each file is replaced atomically; a cell the
// engine cannot cast fails here, still before anything is written online), then the
// online writes. If an online write fails after the offline append succeeded, the error
// says so: the rows are in the offline store, and the push should be retried with
// to=online, not repeated whole (an append is not idempotent; an online write is).
func (fs *FeatureStore) Push(ctx context.Context, req PushRequest) error {
	env, err := fs.writeEnv(ctx, req.To != PushOffline)
	if err != nil {
		return err
	}
	env.prepareOffline = fs.prepareOfflineWrites // offline_write.go
	// Write-time on-demand feature views fed by this push (odfv_serve.go): computed
	// first, so a frame they reject writes nothing; written after the views.
	odfvWrites, odfvs, err := fs.pushODFVs(ctx, env, req)
	if err != nil {
		return err
	}
	appended, err := env.pushAll(ctx, req)
	if err != nil {
		return err
	}
	for i, w := range odfvWrites {
		if err := env.storeOf(odfvs[i].store).Write(ctx, w); err != nil {
			return appendedNote(appended, fmt.Errorf("pushing %d rows from push source %q to on-demand feature view %q: %w", len(w.Rows), req.PushSourceName, w.View, err))
		}
	}
	return nil
}

// WriteToOnlineStore writes a frame to one feature view's online table (Feast's
// /write-to-online-store).
func (fs *FeatureStore) WriteToOnlineStore(ctx context.Context, req WriteToOnlineStoreRequest) error {
	env, err := fs.writeEnv(ctx, true)
	if err != nil {
		return err
	}
	if handled, err := fs.writeToOnlineStoreODFV(ctx, env, req); handled { // odfv_serve.go
		return err
	}
	return env.writeToOnlineStore(ctx, req)
}

func (fs *FeatureStore) writeEnv(ctx context.Context, needOnline bool) (*writeEnv, error) {
	cat, err := fs.servingCatalog(ctx)
	if err != nil {
		return nil, err
	}
	env := &writeEnv{cat: cat, keyVersion: fs.keyVersion()}
	if needOnline {
		store, err := fs.onlineStore(ctx)
		if err != nil {
			return nil, err
		}
		env.storeOf = func(*viewDef) OnlineStore { return store }
	}
	return env, nil
}

// writeEnv is what writes need besides the request.
type writeEnv struct {
	cat        *catalog
	storeOf    func(*viewDef) OnlineStore
	keyVersion int
	// prepareOffline prepares the appends of a frame to the views' offline sources
	// (offline_write.go); nil where offline writes are not possible (e.g. in tests).
	prepareOffline func(ctx context.Context, views []*viewDef, df []Column) ([]*offlineWrite, error)
}

// push writes the frame (see Push for the order of the steps).
func (e *writeEnv) push(ctx context.Context, req PushRequest) error {
	_, err := e.pushAll(ctx, req)
	return err
}

// pushAll is push, also returning the offline sources it appended to (for the errors of
// the steps after it).
func (e *writeEnv) pushAll(ctx context.Context, req PushRequest) (appended []string, err error) {
	to := req.To
	if to == "" {
		to = PushOnline
	}
	online, offline := false, false
	switch to {
	case PushOnline:
		online = true
	case PushOffline:
		offline = true
	case PushOnlineAndOffline:
		online, offline = true, true
	default:
		return nil, Requestf(BadRequest, "to", "%q is not a push destination; use %q, %q or %q",
			req.To, PushOnline, PushOffline, PushOnlineAndOffline)
	}
	if req.PushSourceName == "" {
		return nil, Requestf(BadRequest, "push_source_name", "push_source_name is required")
	}
	views := e.cat.pushViews[req.PushSourceName]
	if len(views) == 0 {
		// Feast answers an unknown push source with 422 (PushSourceNotFoundException).
		return nil, Requestf(Unprocessable, "push_source_name",
			"no feature view in project %q is fed by a push source named %q", e.cat.project, req.PushSourceName)
	}
	if offline && e.prepareOffline == nil {
		return nil, fmt.Errorf("pushing to the offline store (to=%q): the configured offline store cannot take writes: %w", to, abi.ErrUnimplemented)
	}
	if len(req.DF) == 0 {
		return nil, Requestf(BadRequest, "df", "the frame has no columns")
	}
	// Convert every view's rows before writing any, so a bad frame writes nothing.
	var writes []WriteRequest
	if online {
		writes = make([]WriteRequest, 0, len(views))
		for _, v := range views {
			w, err := e.rows(v, req.DF)
			if err != nil {
				return nil, err
			}
			writes = append(writes, w)
		}
	}
	if offline {
		prepared, err := e.prepareOffline(ctx, views, req.DF)
		if err != nil {
			return nil, fmt.Errorf("pushing rows from push source %q to the offline store: %w", req.PushSourceName, err)
		}
		err = func() error {
			defer releaseOfflineWrites(prepared)
			for _, w := range prepared {
				if _, err := w.run(ctx); err != nil {
					return appendedNote(appended, fmt.Errorf("appending %d rows from push source %q to the offline source %q of feature view %q: %w",
						len(w.rel.Rows), req.PushSourceName, w.source.Name, w.view, err))
				}
				appended = append(appended, w.source.Name)
			}
			return nil
		}()
		if err != nil {
			return appended, err
		}
	}
	for i, w := range writes {
		if err := e.storeOf(views[i]).Write(ctx, w); err != nil {
			return appended, appendedNote(appended, fmt.Errorf("pushing %d rows from push source %q to feature view %q: %w", len(w.Rows), req.PushSourceName, w.View, err))
		}
	}
	return appended, nil
}

// appendedNote adds to err that the rows were already appended to the offline sources
// named, so the caller retries only what failed.
func appendedNote(appended []string, err error) error {
	if len(appended) == 0 {
		return err
	}
	return &PartialPushError{Appended: appended, Err: err}
}

// PartialPushError is a push that failed after its rows were appended to offline sources
// (to=online_and_offline, then the online write failed). Err keeps the cause's kind (a
// RequestError stays one, a plugin status stays one).
type PartialPushError struct {
	Appended []string // names of the offline sources the rows were appended to
	Err      error
}

func (e *PartialPushError) Error() string { return e.Explain(e.Err.Error()) }

// Explain wraps a description of the cause (e.g. the public message of an HTTP error)
// with what was written and how to retry.
func (e *PartialPushError) Explain(cause string) string {
	return fmt.Sprintf("the rows were appended to the offline source(s) %s, but then: %s; retry with to=%q (repeating to=%q would append them again)",
		quoteList(e.Appended), cause, PushOnline, PushOnlineAndOffline)
}

func (e *PartialPushError) Unwrap() error { return e.Err }

func (e *writeEnv) writeToOnlineStore(ctx context.Context, req WriteToOnlineStoreRequest) error {
	if req.FeatureViewName == "" {
		return Requestf(BadRequest, "feature_view_name", "feature_view_name is required")
	}
	v, ok := e.cat.views[req.FeatureViewName]
	if !ok {
		if e.cat.odfvs[req.FeatureViewName] {
			return Requestf(Unprocessable, "feature_view_name",
				"%q is an on-demand feature view; writing on-demand feature views is not supported yet", req.FeatureViewName)
		}
		return Requestf(NotFound, "feature_view_name", "feature view %q not found in project %q", req.FeatureViewName, e.cat.project)
	}
	w, err := e.rows(v, req.DF)
	if err != nil {
		return err
	}
	if err := e.storeOf(v).Write(ctx, w); err != nil {
		return fmt.Errorf("writing %d rows to feature view %q: %w", len(w.Rows), v.name, err)
	}
	return nil
}

// rows converts a frame to the rows of one view: entity keys serialized, values typed by
// the view's schema and serialized, timestamps parsed. Errors name the frame cell.
func (e *writeEnv) rows(v *viewDef, df []Column) (WriteRequest, error) {
	if len(df) == 0 {
		return WriteRequest{}, Requestf(BadRequest, "df", "the frame has no columns")
	}
	n := len(df[0].Values)
	byName := make(map[string]int, len(df))
	for i, c := range df {
		if len(c.Values) != n {
			return WriteRequest{}, Requestf(BadRequest, "df."+c.Name,
				"column has %d values but column %q has %d; all columns need one value per row", len(c.Values), df[0].Name, n)
		}
		name := c.Name
		if mapped, ok := v.fieldMapping[name]; ok {
			name = mapped
		}
		byName[name] = i
	}

	var missing []string
	need := func(name string) int {
		i, ok := byName[name]
		if !ok {
			missing = append(missing, name)
			return -1
		}
		return i
	}
	keyCols := make([]int, len(v.entityColumns))
	for i, ec := range v.entityColumns {
		keyCols[i] = need(ec.name)
	}
	tsField := v.timestampField
	if tsField == "" {
		tsField = "event_timestamp"
	}
	tsCol := need(tsField)
	featCols := make([]int, len(v.features))
	for i, f := range v.features {
		featCols[i] = need(f.name)
	}
	if len(missing) > 0 {
		return WriteRequest{}, Requestf(BadRequest, "df",
			"missing columns %s: feature view %q needs its join keys, its event timestamp column %q and every feature",
			quoteList(missing), v.name, tsField)
	}
	createdCol := -1
	if v.createdTimestampColumn != "" {
		if i, ok := byName[v.createdTimestampColumn]; ok {
			createdCol = i
		}
	}

	w := WriteRequest{Project: e.cat.project, View: v.name, Features: make([]string, len(v.features)), Rows: make([]WriteRow, n)}
	for i, f := range v.features {
		w.Features[i] = f.name
	}
	joinKeys := make([]string, len(v.entityColumns))
	for i, ec := range v.entityColumns {
		joinKeys[i] = ec.name
	}
	keyVals := make([]feast.Value, len(v.entityColumns))
	var dummy []byte
	if v.entityless() {
		var err error
		if dummy, err = dummyKey(e.keyVersion); err != nil {
			return WriteRequest{}, err
		}
	}
	cell := func(col, row int) string { return "df." + df[col].Name + "[" + strconv.Itoa(row) + "]" }

	for r := 0; r < n; r++ {
		row := &w.Rows[r]
		if v.entityless() {
			row.EntityKey = dummy
		} else {
			for i, ec := range v.entityColumns {
				val, err := feast.ValueFromJSON(df[keyCols[i]].Values[r], ec.typ)
				if err != nil {
					return WriteRequest{}, Requestf(BadRequest, cell(keyCols[i], r), "%s", err)
				}
				if val.IsNull() {
					return WriteRequest{}, Requestf(BadRequest, cell(keyCols[i], r), "join key value is null")
				}
				keyVals[i] = val
			}
			key, err := feast.SerializeEntityKey(joinKeys, keyVals, e.keyVersion)
			if err != nil {
				return WriteRequest{}, Requestf(BadRequest, "df", "row %d: %s", r, err)
			}
			row.EntityKey = key
		}
		ts, err := parseEventTime(df[tsCol].Values[r])
		if err != nil {
			return WriteRequest{}, Requestf(BadRequest, cell(tsCol, r), "%s", err)
		}
		row.EventTS = ts
		if createdCol >= 0 && !isJSONNull(df[createdCol].Values[r]) {
			ct, err := parseEventTime(df[createdCol].Values[r])
			if err != nil {
				return WriteRequest{}, Requestf(BadRequest, cell(createdCol, r), "%s", err)
			}
			row.CreatedTS = ct
		}
		row.Values = make([][]byte, len(v.features))
		for i, f := range v.features {
			val, err := feast.ValueFromJSON(df[featCols[i]].Values[r], f.typ)
			if err != nil {
				return WriteRequest{}, Requestf(BadRequest, cell(featCols[i], r), "%s", err)
			}
			b, err := feast.MarshalValue(val)
			if err != nil {
				return WriteRequest{}, Requestf(BadRequest, cell(featCols[i], r), "%s", err)
			}
			if b == nil {
				// A null cell is stored as the empty Value, as Feast stores it; nil
				// would mean "not written".
				b = []byte{}
			}
			row.Values[i] = b
		}
	}
	return w, nil
}

func isJSONNull(raw json.RawMessage) bool {
	return strings.TrimSpace(string(raw)) == "null"
}

// parseEventTime reads an event or created timestamp cell: a string as Feast clients
// send them ("2022-05-13 10:59:42+00:00", RFC 3339, naive = UTC, a bare date) or a
// number of seconds since the Unix epoch.
func parseEventTime(raw json.RawMessage) (time.Time, error) {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "null" || s == "":
		return time.Time{}, fmt.Errorf("timestamp is null")
	case s[0] == '"':
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return time.Time{}, fmt.Errorf("invalid JSON string %s", s)
		}
		t, err := feast.ParseTimestampText(str)
		if err != nil {
			return time.Time{}, err
		}
		return t.UTC(), nil
	case s[0] == '-' || (s[0] >= '0' && s[0] <= '9'):
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return time.Time{}, fmt.Errorf("invalid epoch seconds %s", s)
		}
		// Beyond year 9999 is almost certainly milliseconds or nanoseconds sent as seconds.
		if f < -62135596800 || f > 253402300799 {
			return time.Time{}, fmt.Errorf("epoch value %s is outside years 1-9999; timestamps given as numbers are seconds since the Unix epoch", s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp must be a string such as \"2022-05-13 10:59:42+00:00\" or epoch seconds, not %s", truncate(s, 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
