// Package yamlpos decodes YAML node trees strictly, reporting every problem with the file,
// line and full key path it belongs to. It is shared by host/config (feature_store.yaml)
// and host/repo (feature definitions), which both promise users "file:line: key: what is
// wrong" instead of the bare type errors yaml.Unmarshal gives.
//
// A Decoder accumulates errors rather than stopping at the first, so one run of
// `larder apply` shows everything that is wrong in a file.
package yamlpos

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is one problem at one place of a YAML file.
type Error struct {
	File   string // as given to the Decoder, usually relative to the repo or absolute
	Line   int    // 1-based; 0 when the problem has no place (e.g. an unreadable file)
	Column int    // 1-based; 0 when unknown
	Path   string // full key path, e.g. online_store.grants[0].phases[1]; may be empty
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found, in file and line order. It is what config and repo
// return when validation fails; use errors.As to get at the individual positions.
type ErrorList []*Error

func (l ErrorList) Error() string {
	if len(l) == 1 {
		return l[0].Error()
	}
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return fmt.Sprintf("%d problems:\n%s", len(l), strings.Join(msgs, "\n"))
}

// Sort orders the list by file, line, column, then path.
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Path < b.Path
	})
}

// Err returns nil for an empty list and the sorted list otherwise.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}

// Decoder walks nodes of one file and collects errors.
type Decoder struct {
	File string
	Errs ErrorList
}

// Errorf records an error at node n (which may be nil).
func (d *Decoder) Errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.File, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.Errs = append(d.Errs, e)
}

// Key joins a key path and a key.
func Key(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index joins a key path and a sequence index.
func Index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// Deref follows aliases and unwraps document nodes.
func Deref(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch n.Kind {
		case yaml.AliasNode:
			n = n.Alias
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
		default:
			return n
		}
	}
	return nil
}

// IsNull reports whether n is absent or an explicit YAML null (`key:` or `key: null`).
func IsNull(n *yaml.Node) bool {
	n = Deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// Map is a decoded mapping: its keys in document order with their key and value nodes.
type Map struct {
	Node *yaml.Node
	keys []string
	key  map[string]*yaml.Node
	val  map[string]*yaml.Node
}

// Get returns the value node of key k (aliases followed), or nil when absent.
func (m *Map) Get(k string) *yaml.Node {
	if m == nil {
		return nil
	}
	return Deref(m.val[k])
}

// Has reports whether the key is present, even with a null value.
func (m *Map) Has(k string) bool {
	if m == nil {
		return false
	}
	_, ok := m.val[k]
	return ok
}

// KeyNode returns the node of key k itself, for errors about the key.
func (m *Map) KeyNode(k string) *yaml.Node {
	if m == nil {
		return nil
	}
	return m.key[k]
}

// Keys returns the keys in document order.
func (m *Map) Keys() []string {
	if m == nil {
		return nil
	}
	return m.keys
}

// Mapping decodes n as a mapping with string keys. If known is non-nil, keys outside it
// are reported as unknown (with a suggestion when one is close). Duplicate keys are
// always errors. It returns nil when n is not a mapping.
func (d *Decoder) Mapping(n *yaml.Node, path string, known []string) *Map {
	n = Deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "expected a mapping, got %s", describe(n))
		return nil
	}
	m := &Map{Node: n, key: map[string]*yaml.Node{}, val: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := Deref(n.Content[i]), n.Content[i+1]
		if kn == nil || kn.Kind != yaml.ScalarNode {
			d.Errorf(n.Content[i], path, "mapping keys must be strings")
			continue
		}
		k := kn.Value
		if k == "<<" {
			d.Errorf(kn, path, "YAML merge keys (<<) are not supported; write the keys out")
			continue
		}
		if prev, dup := m.key[k]; dup {
			d.Errorf(kn, Key(path, k), "duplicate key (first set on line %d)", prev.Line)
			continue
		}
		if known != nil && !contains(known, k) {
			msg := "unknown key"
			if s := Closest(k, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			msg += " (known keys: " + strings.Join(known, ", ") + ")"
			d.Errorf(kn, Key(path, k), "%s", msg)
			continue
		}
		m.keys = append(m.keys, k)
		m.key[k] = kn
		m.val[k] = vn
	}
	return m
}

// Require reports each of keys that is absent or null in m.
func (d *Decoder) Require(m *Map, path string, keys ...string) bool {
	if m == nil {
		return false
	}
	ok := true
	for _, k := range keys {
		if IsNull(m.Get(k)) {
			at := m.Node
			if m.Has(k) {
				at = m.KeyNode(k)
			}
			d.Errorf(at, Key(path, k), "required")
			ok = false
		}
	}
	return ok
}

// Seq decodes n as a sequence. A null node is an empty sequence.
func (d *Decoder) Seq(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = Deref(n)
	if IsNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, path, "expected a list, got %s", describe(n))
		return nil, false
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = Deref(c)
	}
	return out, true
}

// Str decodes a scalar as a string. Numbers and booleans are accepted as written
// (`version: 3` as "3") because YAML users rarely quote them. Null is "".
func (d *Decoder) Str(n *yaml.Node, path string) (string, bool) {
	n = Deref(n)
	if IsNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		d.Errorf(n, path, "expected a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// Bool decodes a YAML boolean (true/false only: yes/no/on/off are rejected as ambiguous).
func (d *Decoder) Bool(n *yaml.Node, path string) (bool, bool) {
	n = Deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.Errorf(n, path, "expected true or false, got %s", describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.Errorf(n, path, "expected true or false: %v", err)
		return false, false
	}
	return b, true
}

// Int decodes a YAML integer.
func (d *Decoder) Int(n *yaml.Node, path string) (int64, bool) {
	n = Deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.Errorf(n, path, "expected an integer, got %s", describe(n))
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil {
		d.Errorf(n, path, "expected an integer: %v", err)
		return 0, false
	}
	return v, true
}

// StrList decodes a sequence of strings. Null is an empty list.
func (d *Decoder) StrList(n *yaml.Node, path string) ([]string, bool) {
	items, ok := d.Seq(n, path)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, ok2 := d.Str(it, Index(path, i))
		if !ok2 {
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}

// StrMap decodes a mapping of string to scalar (tags, field_mapping). Null is nil.
func (d *Decoder) StrMap(n *yaml.Node, path string) (map[string]string, bool) {
	if IsNull(n) {
		return nil, true
	}
	m := d.Mapping(n, path, nil)
	if m == nil {
		return nil, false
	}
	out := make(map[string]string, len(m.keys))
	ok := true
	for _, k := range m.keys {
		v := m.Get(k)
		if v == nil || v.Kind != yaml.ScalarNode {
			d.Errorf(v, Key(path, k), "expected a string, got %s", describe(v))
			ok = false
			continue
		}
		out[k] = v.Value
	}
	return out, ok
}

// Duration decodes a duration: an integer number of seconds, or a string such as "86400s",
// "1d", "2h", "1h30m", "1w", "500ms". Negative durations are rejected.
func (d *Decoder) Duration(n *yaml.Node, path string) (time.Duration, bool) {
	n = Deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || IsNull(n) {
		d.Errorf(n, path, "expected a duration such as 86400s, 1d or 2h, got %s", describe(n))
		return 0, false
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		d.Errorf(n, path, "%v", err)
		return 0, false
	}
	return v, true
}

// ParseDuration parses what Duration accepts.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("duration %q is negative", s)
		}
		if n > int64(maxDuration/time.Second) {
			return 0, fmt.Errorf("duration %q is too large", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q: expected a number at %q (units: ms, s, m, h, d, w)", s, rest)
		}
		num, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %v", s, err)
		}
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') && rest[j] != '.' {
			j++
		}
		unit, ok := durationUnits[rest[:j]]
		if !ok {
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q (units: ms, s, m, h, d, w)", s, rest[:j])
		}
		rest = rest[j:]
		part := num * float64(unit)
		if part > float64(maxDuration-total) {
			return 0, fmt.Errorf("duration %q is too large", s)
		}
		total += time.Duration(part)
	}
	return total, nil
}

const maxDuration = time.Duration(1<<63 - 1)

var durationUnits = map[string]time.Duration{
	"ms": time.Millisecond,
	"s":  time.Second,
	"m":  time.Minute,
	"h":  time.Hour,
	"d":  24 * time.Hour,
	"w":  7 * 24 * time.Hour,
}

// Any converts a node to plain Go values that encoding/json can marshal: map[string]any,
// []any, string, int64, float64, bool, nil. Used for plugin configuration passed through
// as JSON.
func (d *Decoder) Any(n *yaml.Node, path string) (any, bool) {
	n = Deref(n)
	if n == nil {
		return nil, true
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := d.Mapping(n, path, nil)
		if m == nil {
			return nil, false
		}
		out := make(map[string]any, len(m.keys))
		ok := true
		for _, k := range m.keys {
			v, ok2 := d.Any(m.Get(k), Key(path, k))
			ok = ok && ok2
			out[k] = v
		}
		return out, ok
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		ok := true
		for i, c := range n.Content {
			v, ok2 := d.Any(c, Index(path, i))
			ok = ok && ok2
			out[i] = v
		}
		return out, ok
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, true
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				d.Errorf(n, path, "%v", err)
				return nil, false
			}
			return b, true
		case "!!int":
			var v int64
			if err := n.Decode(&v); err != nil {
				d.Errorf(n, path, "%v", err)
				return nil, false
			}
			return v, true
		case "!!float":
			var v float64
			if err := n.Decode(&v); err != nil {
				d.Errorf(n, path, "%v", err)
				return nil, false
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				d.Errorf(n, path, "%s cannot be represented in JSON", n.Value)
				return nil, false
			}
			return v, true
		case "!!str", "!!timestamp", "!!binary":
			return n.Value, true
		default:
			d.Errorf(n, path, "unsupported YAML tag %s", n.Tag)
			return nil, false
		}
	}
	d.Errorf(n, path, "unsupported YAML node")
	return nil, false
}

// ParseDocuments splits data into its YAML documents. A syntax error becomes an Error
// positioned on the line where the problem is.
func ParseDocuments(file string, data []byte) ([]*yaml.Node, error) {
	docs, err := decodeAll(data)
	if err != nil {
		e := syntaxError(file, err)
		if line := firstBadLine(data); line > 0 {
			e.Line = line
		}
		return nil, e
	}
	return docs, nil
}

func decodeAll(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, err
		}
		docs = append(docs, &n)
	}
}

// maxScanLines bounds firstBadLine's quadratic scan; definition files are far smaller.
const maxScanLines = 2000

// firstBadLine returns the line after the longest prefix of whole lines that still parses,
// or 0. yaml.v3 reports the line where the enclosing block starts ("line 1: did not find
// expected key" for a mis-indented key on line 9); the end of the longest good prefix is
// the line the user has to fix. Scanning from the end (rather than looking for the
// shortest bad prefix) keeps a flow list or quoted string spread over several lines from
// being blamed while it is still open.
func firstBadLine(data []byte) int {
	var ends []int // ends[k] = byte length of the first k+1 lines
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		ends = append(ends, len(data))
	}
	if len(ends) > maxScanLines {
		return 0
	}
	for k := len(ends) - 1; k >= 1; k-- {
		if _, err := decodeAll(data[:ends[k-1]]); err == nil {
			return k + 1
		}
	}
	return 1
}

// syntaxError turns "yaml: line 7: mapping values are not allowed in this context" into a
// positioned Error.
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Msg: "invalid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if line, err := strconv.Atoi(rest[:i]); err == nil {
				e.Line = line
				e.Msg = "invalid YAML:" + rest[i+1:]
			}
		}
	}
	return e
}

func describe(n *yaml.Node) string {
	n = Deref(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		default:
			return fmt.Sprintf("%s %s", strings.TrimPrefix(n.ShortTag(), "!!"), n.Value)
		}
	}
	return "an unsupported node"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Closest returns the candidate within edit distance 2 of s, or else one that s is a prefix
// of (cache_ttl for cache_ttl_seconds); typos in keys are the most common config mistake.
func Closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" && len(s) >= 3 {
		for _, c := range candidates {
			if strings.HasPrefix(c, s) {
				return c
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
