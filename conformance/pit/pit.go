package pit

import (
	"bytes"
	"fmt"
	"time"
)

// Entities is an entity frame: its columns, which of them is the timestamp, and its rows
// (Rows[i][j] is column j of row i; nil is null; timestamps are time.Time).
type Entities struct {
	Columns         []string
	TimestampColumn string
	Rows            [][]any
}

// View is one feature view's source rows, already renamed by its field mapping.
type View struct {
	Name string
	// JoinKeys are the entity columns the view's keys are matched with, in Row.Keys order.
	// None: the view is entity-less and matches on time alone.
	JoinKeys []string
	Features []string
	// TTL bounds the look-back (inclusive); 0 means unbounded.
	TTL time.Duration
	// Rows in source order: a remaining tie goes to the later row.
	Rows []Row
}

// Row is one source row of a view. A nil timestamp is null.
type Row struct {
	Keys      []any
	EventTS   *time.Time
	CreatedTS *time.Time
	Values    []any
}

// ReferenceHistorical joins views onto entities point in time: one output row per entity
// row, in order, holding the entity row's values and then each view's features. Output
// columns are named "feature", or "view__feature" with fullFeatureNames.
func ReferenceHistorical(e Entities, views []View, fullFeatureNames bool) (columns []string, rows [][]any, err error) {
	index := make(map[string]int, len(e.Columns))
	for i, c := range e.Columns {
		if _, dup := index[c]; dup {
			return nil, nil, fmt.Errorf("entity column %q appears twice", c)
		}
		index[c] = i
	}
	tsCol, ok := index[e.TimestampColumn]
	if !ok {
		return nil, nil, fmt.Errorf("the timestamp column %q is not an entity column", e.TimestampColumn)
	}
	columns = append(columns, e.Columns...)
	seen := make(map[string]bool, len(columns))
	for _, c := range columns {
		seen[c] = true
	}
	keyCols := make([][]int, len(views))
	for vi, v := range views {
		for _, k := range v.JoinKeys {
			i, ok := index[k]
			if !ok {
				return nil, nil, fmt.Errorf("view %s: join key column %q is not an entity column", v.Name, k)
			}
			keyCols[vi] = append(keyCols[vi], i)
		}
		for _, f := range v.Features {
			name := f
			if fullFeatureNames {
				name = v.Name + "__" + f
			}
			if seen[name] {
				return nil, nil, fmt.Errorf("output column %q appears twice", name)
			}
			seen[name] = true
			columns = append(columns, name)
		}
	}

	rows = make([][]any, 0, len(e.Rows))
	for _, er := range e.Rows {
		out := append([]any(nil), er...)
		ts, _ := er[tsCol].(time.Time)
		hasTS := er[tsCol] != nil
		for vi, v := range views {
			var best *Row
			if hasTS {
				for ri := range v.Rows {
					r := &v.Rows[ri]
					if !matches(r, er, keyCols[vi], ts, v.TTL) {
						continue
					}
					if best == nil || !newer(best, r) {
						best = r
					}
				}
			}
			for fi := range v.Features {
				if best == nil {
					out = append(out, nil)
				} else {
					out = append(out, best.Values[fi])
				}
			}
		}
		rows = append(rows, out)
	}
	return columns, rows, nil
}

// matches reports whether r is a candidate for the entity row er at ts.
func matches(r *Row, er []any, keyCols []int, ts time.Time, ttl time.Duration) bool {
	if r.EventTS == nil || r.EventTS.After(ts) {
		return false
	}
	if ttl > 0 && r.EventTS.Before(ts.Add(-ttl)) {
		return false
	}
	for i, c := range keyCols {
		if r.Keys[i] == nil || er[c] == nil || !Equal(r.Keys[i], er[c]) {
			return false
		}
	}
	return true
}

// newer reports whether a beats b strictly: a later event, else a later created timestamp
// (null lowest). On a full tie it is false, so the later row of the source wins.
func newer(a, b *Row) bool {
	if !a.EventTS.Equal(*b.EventTS) {
		return a.EventTS.After(*b.EventTS)
	}
	switch {
	case a.CreatedTS == nil:
		return false
	case b.CreatedTS == nil:
		return true
	}
	return a.CreatedTS.After(*b.CreatedTS)
}

// Equal compares two values as the join does: times by instant, bytes by content.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	}
	return a == b
}

// Winners returns, for every entity row and view, the candidate rows tied with the one
// ReferenceHistorical picks (same event and created timestamps): the rows a store whose
// remaining ties are arbitrary (spec §9.4: CSV, database tables) may pick from. The list
// is empty when no row matches.
func Winners(e Entities, views []View) ([][][]*Row, error) {
	index := make(map[string]int, len(e.Columns))
	for i, c := range e.Columns {
		index[c] = i
	}
	tsCol, ok := index[e.TimestampColumn]
	if !ok {
		return nil, fmt.Errorf("the timestamp column %q is not an entity column", e.TimestampColumn)
	}
	out := make([][][]*Row, len(e.Rows))
	for ri, er := range e.Rows {
		out[ri] = make([][]*Row, len(views))
		ts, hasTS := er[tsCol].(time.Time)
		if !hasTS {
			continue
		}
		for vi, v := range views {
			var keyCols []int
			for _, k := range v.JoinKeys {
				i, ok := index[k]
				if !ok {
					return nil, fmt.Errorf("view %s: join key column %q is not an entity column", v.Name, k)
				}
				keyCols = append(keyCols, i)
			}
			var best []*Row
			for i := range v.Rows {
				r := &v.Rows[i]
				if !matches(r, er, keyCols, ts, v.TTL) {
					continue
				}
				switch {
				case len(best) == 0 || newer(r, best[0]):
					best = []*Row{r}
				case !newer(best[0], r):
					best = append(best, r)
				}
			}
			out[ri][vi] = best
		}
	}
	return out, nil
}
