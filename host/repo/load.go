package repo

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/larder-dev/larder/host/internal/yamlpos"
)

// ConfigFileName is skipped when looking for definitions (it is feature_store.yaml, read by
// host/config), wherever it appears in the tree: Feast repos keep per-environment copies
// such as staging/feature_store.yaml.
const ConfigFileName = "feature_store.yaml"

// IgnoreFileName lists paths (relative to the repo dir, glob patterns, one per line, #
// comments) that are not definition files, like Feast's .feastignore.
const IgnoreFileName = ".larderignore"

// Load reads every *.yaml / *.yml file under dir (recursively, skipping hidden entries,
// feature_store.yaml and what .larderignore lists), parses the definitions and validates
// them together: references may cross files. All problems are returned at once as an
// ErrorList.
func Load(dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("locating feature repo %s: %w", dir, err)
	}
	files, err := definitionFiles(abs)
	if err != nil {
		return nil, err
	}
	l := newLoader(abs)
	for _, rel := range files {
		data, err := os.ReadFile(filepath.Join(abs, rel))
		if err != nil {
			return nil, fmt.Errorf("reading feature definitions: %w", err)
		}
		l.parseFile(rel, data)
	}
	return l.finish()
}

// definitionFiles lists the definition files under dir, relative and sorted.
func definitionFiles(dir string) ([]string, error) {
	ignore, err := readIgnore(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(e.Name(), ".") || ignored(ignore, rel) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			return nil
		}
		ext := filepath.Ext(e.Name())
		if (ext == ".yaml" || ext == ".yml") && e.Name() != ConfigFileName {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing feature definitions in %s: %w", dir, err)
	}
	slices.Sort(files)
	return files, nil
}

func readIgnore(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, IgnoreFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", IgnoreFileName, err)
	}
	var pats []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pats = append(pats, strings.Trim(filepath.ToSlash(line), "/"))
	}
	return pats, nil
}

// ignored matches a slash-separated relative path against the patterns; a pattern also
// matches everything below a matching directory.
func ignored(pats []string, rel string) bool {
	for _, p := range pats {
		if ok, _ := filepath.Match(p, rel); ok {
			return true
		}
		if ok, _ := filepath.Match(p, filepath.Base(rel)); ok && !strings.Contains(p, "/") {
			return true
		}
	}
	return false
}

type loader struct {
	repo *Repo
	decs []*yamlpos.Decoder
	// checks run after every file is parsed, in phase order, because references cross
	// files: entities and sources first, then feature views (whose derived fields the
	// later phases read), then ODFVs, then feature services.
	checks [4][]func()
	// first definitions, for duplicate-name errors
	entities, sources, views, services map[string]Pos
	project                            *Pos
}

const (
	phaseSources = iota
	phaseViews
	phaseODFVs
	phaseServices
)

func newLoader(dir string) *loader {
	return &loader{
		repo:     &Repo{Dir: dir},
		entities: map[string]Pos{}, sources: map[string]Pos{},
		views: map[string]Pos{}, services: map[string]Pos{},
	}
}

func (l *loader) later(phase int, f func()) { l.checks[phase] = append(l.checks[phase], f) }

func (l *loader) finish() (*Repo, error) {
	for _, phase := range l.checks {
		for _, f := range phase {
			f()
		}
	}
	var all ErrorList
	for _, d := range l.decs {
		all = append(all, d.Errs...)
	}
	if err := all.Err(); err != nil {
		return nil, err
	}
	return l.repo, nil
}

var topKeys = []string{"project", "entities", "sources", "feature_views", "on_demand_feature_views", "feature_services"}

func (l *loader) parseFile(rel string, data []byte) {
	d := &yamlpos.Decoder{File: rel}
	l.decs = append(l.decs, d)
	l.repo.Files = append(l.repo.Files, rel)
	docs, err := yamlpos.ParseDocuments(rel, data)
	if err != nil {
		d.Errs = append(d.Errs, err.(*yamlpos.Error))
		return
	}
	for _, doc := range docs {
		if yamlpos.IsNull(doc) {
			continue
		}
		l.parseDoc(d, yamlpos.Deref(doc))
	}
}

func (l *loader) parseDoc(d *yamlpos.Decoder, n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		known := false
		for i := 0; i < len(n.Content); i += 2 {
			known = known || slices.Contains(topKeys, n.Content[i].Value)
		}
		if !known && len(n.Content) > 0 {
			d.Errorf(n, "", "not a feature definition document (expected some of: %s); if this file is something else, list it in %s",
				strings.Join(topKeys, ", "), IgnoreFileName)
			return
		}
	}
	m := d.Mapping(n, "", topKeys)
	if m == nil {
		return
	}
	if v := m.Get("project"); !yamlpos.IsNull(v) {
		l.parseProject(d, v)
	}
	each := func(key string, parse func(d *yamlpos.Decoder, n *yaml.Node, path string)) {
		items, _ := d.Seq(m.Get(key), key)
		for i, it := range items {
			parse(d, it, yamlpos.Index(key, i))
		}
	}
	each("entities", l.parseEntity)
	each("sources", l.parseSource)
	each("feature_views", l.parseFeatureView)
	each("on_demand_feature_views", l.parseODFV)
	each("feature_services", l.parseFeatureService)
}

// Names become table names (<project>_<view>), feature references (view:feature) and JSON
// keys, so they are kept to identifier characters.
var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// common holds the keys every object has.
type common struct {
	name, description, owner string
	tags                     map[string]string
	path                     string // error path, with the name once known
	ok                       bool   // name valid
}

// named returns the error path of a list item: kind[name] when the item has a valid name
// (easier to find than an index), kind[i] otherwise.
func named(n *yaml.Node, path string) string {
	n = yamlpos.Deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return path
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "name" {
			continue
		}
		if v := yamlpos.Deref(n.Content[i+1]); v != nil && v.Kind == yaml.ScalarNode && nameRE.MatchString(v.Value) {
			return path[:strings.LastIndexByte(path, '[')] + "[" + v.Value + "]"
		}
	}
	return path
}

func (l *loader) common(d *yamlpos.Decoder, m *yamlpos.Map, path string) common {
	c := common{path: path}
	if d.Require(m, path, "name") {
		if s, ok := d.Str(m.Get("name"), yamlpos.Key(path, "name")); ok {
			if !nameRE.MatchString(s) {
				d.Errorf(m.Get("name"), yamlpos.Key(path, "name"), "invalid name %q: use letters, digits and underscores, not starting with a digit", s)
			} else {
				c.name, c.ok = s, true
			}
		}
	}
	c.description, _ = d.Str(m.Get("description"), yamlpos.Key(c.path, "description"))
	c.owner, _ = d.Str(m.Get("owner"), yamlpos.Key(c.path, "owner"))
	c.tags, _ = d.StrMap(m.Get("tags"), yamlpos.Key(c.path, "tags"))
	return c
}

// unique records a name in a namespace and reports a duplicate.
func unique(d *yamlpos.Decoder, seen map[string]Pos, what, name string, m *yamlpos.Map, path string) bool {
	if prev, dup := seen[name]; dup {
		d.Errorf(m.Get("name"), yamlpos.Key(path, "name"), "duplicate %s name %q (first defined at %s:%d)", what, name, prev.File, prev.Line)
		return false
	}
	seen[name] = Pos{File: d.File, Line: m.Node.Line}
	return true
}

func pos(d *yamlpos.Decoder, n *yaml.Node) Pos { return Pos{File: d.File, Line: n.Line} }

var projectKeys = []string{"name", "description", "owner", "tags"}

func (l *loader) parseProject(d *yamlpos.Decoder, n *yaml.Node) {
	m := d.Mapping(n, "project", projectKeys)
	if m == nil {
		return
	}
	if l.project != nil {
		d.Errorf(n, "project", "project metadata defined twice (first at %s:%d)", l.project.File, l.project.Line)
		return
	}
	p := &Project{Pos: pos(d, n)}
	l.project = &p.Pos
	p.Name, _ = d.Str(m.Get("name"), "project.name")
	p.Description, _ = d.Str(m.Get("description"), "project.description")
	p.Owner, _ = d.Str(m.Get("owner"), "project.owner")
	p.Tags, _ = d.StrMap(m.Get("tags"), "project.tags")
	l.repo.Project = p
}

var entityKeys = []string{"name", "join_keys", "value_type", "description", "tags", "owner"}

func (l *loader) parseEntity(d *yamlpos.Decoder, n *yaml.Node, path string) {
	path = named(n, path)
	m := d.Mapping(n, path, entityKeys)
	if m == nil {
		return
	}
	c := l.common(d, m, path)
	if !c.ok || !unique(d, l.entities, "entity", c.name, m, c.path) {
		return
	}
	e := &Entity{Name: c.name, JoinKey: c.name, Description: c.description, Owner: c.owner, Tags: c.tags, Pos: pos(d, n)}
	if v := m.Get("join_keys"); !yamlpos.IsNull(v) {
		keys, ok := d.StrList(v, yamlpos.Key(c.path, "join_keys"))
		switch {
		case !ok:
		case len(keys) != 1:
			d.Errorf(v, yamlpos.Key(c.path, "join_keys"), "an entity has exactly one join key, got %d (for a composite key, give the feature view several entities)", len(keys))
		case !nameRE.MatchString(keys[0]):
			d.Errorf(v, yamlpos.Key(c.path, "join_keys"), "invalid join key %q: use letters, digits and underscores", keys[0])
		default:
			e.JoinKey = keys[0]
		}
	}
	if v := m.Get("value_type"); !yamlpos.IsNull(v) {
		p := yamlpos.Key(c.path, "value_type")
		if s, ok := d.Str(v, p); ok {
			t, err := ParseDType(s)
			switch {
			case err != nil:
				d.Errorf(v, p, "%v", err)
			case !joinKeyTypes[t]:
				d.Errorf(v, p, "%s cannot be a join key type (use STRING, BYTES, INT32 or INT64)", t)
			default:
				e.ValueType = t
			}
		}
	}
	l.repo.Entities = append(l.repo.Entities, e)
}

var (
	sourceCommonKeys = []string{"name", "type", "description", "tags", "owner"}
	sourceKeys       = map[SourceType][]string{
		SourceFile:     append(slices.Clone(sourceCommonKeys), "path", "file_format", "timestamp_field", "created_timestamp_column", "date_partition_column", "field_mapping"),
		SourcePostgres: append(slices.Clone(sourceCommonKeys), "table", "query", "timestamp_field", "created_timestamp_column", "field_mapping"),
		SourcePush:     append(slices.Clone(sourceCommonKeys), "batch_source"),
		SourceRequest:  append(slices.Clone(sourceCommonKeys), "schema"),
	}
)

func (l *loader) parseSource(d *yamlpos.Decoder, n *yaml.Node, path string) {
	path = named(n, path)
	// The type decides which keys are known, so read it before the strict pass.
	pre := (&yamlpos.Decoder{}).Mapping(n, path, nil)
	if pre == nil {
		d.Mapping(n, path, nil) // report it
		return
	}
	var typ SourceType
	if !d.Require(pre, path, "type") {
		return
	}
	tn := pre.Get("type")
	if s, ok := d.Str(tn, yamlpos.Key(path, "type")); ok {
		typ = SourceType(s)
		if sourceKeys[typ] == nil {
			d.Errorf(tn, yamlpos.Key(path, "type"), "unknown source type %q (known: file, postgres, push, request)", s)
			return
		}
	}
	if typ == "" {
		return
	}
	// A separate decoder so unknown-key errors can say which source type they are unknown for.
	strict := &yamlpos.Decoder{File: d.File}
	sm := strict.Mapping(n, path, sourceKeys[typ])
	for _, e := range strict.Errs {
		e.Msg = strings.Replace(e.Msg, "unknown key", fmt.Sprintf("unknown key for a %s source", typ), 1)
	}
	d.Errs = append(d.Errs, strict.Errs...)
	c := l.common(d, sm, path)
	if !c.ok || !unique(d, l.sources, "source", c.name, sm, c.path) {
		return
	}
	s := &Source{Name: c.name, Type: typ, Description: c.description, Owner: c.owner, Tags: c.tags, Pos: pos(d, n)}
	key := func(k string) string { return yamlpos.Key(c.path, k) }
	switch typ {
	case SourceFile:
		if d.Require(sm, c.path, "path", "timestamp_field") {
			s.Path, _ = d.Str(sm.Get("path"), key("path"))
			s.TimestampField, _ = d.Str(sm.Get("timestamp_field"), key("timestamp_field"))
		}
		s.CreatedTimestampColumn, _ = d.Str(sm.Get("created_timestamp_column"), key("created_timestamp_column"))
		s.DatePartitionColumn, _ = d.Str(sm.Get("date_partition_column"), key("date_partition_column"))
		s.FieldMapping, _ = d.StrMap(sm.Get("field_mapping"), key("field_mapping"))
		if s.CreatedTimestampColumn != "" && s.CreatedTimestampColumn == s.TimestampField {
			d.Errorf(sm.Get("created_timestamp_column"), key("created_timestamp_column"), "must differ from timestamp_field %q", s.TimestampField)
		}
		l.fileFormat(d, sm, s, key)
	case SourcePostgres:
		d.Require(sm, c.path, "timestamp_field")
		s.TimestampField, _ = d.Str(sm.Get("timestamp_field"), key("timestamp_field"))
		s.Table, _ = d.Str(sm.Get("table"), key("table"))
		s.Query, _ = d.Str(sm.Get("query"), key("query"))
		if s.Table == "" && s.Query == "" {
			d.Errorf(sm.Node, c.path, "a postgres source needs table or query")
		}
		s.CreatedTimestampColumn, _ = d.Str(sm.Get("created_timestamp_column"), key("created_timestamp_column"))
		s.FieldMapping, _ = d.StrMap(sm.Get("field_mapping"), key("field_mapping"))
		if s.CreatedTimestampColumn != "" && s.CreatedTimestampColumn == s.TimestampField {
			d.Errorf(sm.Get("created_timestamp_column"), key("created_timestamp_column"), "must differ from timestamp_field %q", s.TimestampField)
		}
	case SourcePush:
		if v := sm.Get("batch_source"); !yamlpos.IsNull(v) {
			if b, ok := d.Str(v, key("batch_source")); ok {
				s.BatchSource = b
				l.later(phaseSources, func() {
					switch src := l.repo.Source(b); {
					case src == nil:
						d.Errorf(v, key("batch_source"), "undefined source %q%s", b, suggest(b, l.sourceNames()))
					case src.Type != SourceFile && src.Type != SourcePostgres:
						d.Errorf(v, key("batch_source"), "source %q is a %s source; a push source's batch_source must be a file or postgres source", b, src.Type)
					}
				})
			}
		}
	case SourceRequest:
		if d.Require(sm, c.path, "schema") {
			s.Schema = l.schema(d, sm.Get("schema"), key("schema"))
		}
	}
	l.repo.Sources = append(l.repo.Sources, s)
}

func (l *loader) fileFormat(d *yamlpos.Decoder, sm *yamlpos.Map, s *Source, key func(string) string) {
	isCSV := strings.HasSuffix(strings.ToLower(s.Path), ".csv")
	v := sm.Get("file_format")
	if yamlpos.IsNull(v) {
		s.FileFormat = FormatParquet
		if isCSV {
			s.FileFormat = FormatCSV
		}
		return
	}
	f, ok := d.Str(v, key("file_format"))
	if !ok {
		return
	}
	switch strings.ToLower(f) {
	case FormatParquet:
		s.FileFormat = FormatParquet
		if isCSV {
			d.Errorf(v, key("file_format"), "parquet does not match the .csv path %q", s.Path)
		}
	case FormatCSV:
		s.FileFormat = FormatCSV
		// The registry has no CSV file format (Feast reads only Parquet and Delta), so
		// readers recognise CSV by the extension; it must be there.
		if !isCSV {
			d.Errorf(v, key("file_format"), "csv sources need a path ending in .csv, got %q", s.Path)
		}
	default:
		d.Errorf(v, key("file_format"), "unknown file_format %q (known: parquet, csv)", f)
	}
}

var fieldKeys = []string{"name", "dtype", "description", "tags", "vector_index", "vector_search_metric", "vector_length"}

// schema parses a list of fields; names must be unique and not use the reserved "__"
// prefix (the ABI's batch columns: __entity_key, __event_ts, …).
func (l *loader) schema(d *yamlpos.Decoder, n *yaml.Node, path string) []Field {
	items, ok := d.Seq(n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.Errorf(n, path, "must list at least one field")
		return nil
	}
	var out []Field
	seen := map[string]int{}
	for i, it := range items {
		ip := yamlpos.Index(path, i)
		m := d.Mapping(it, ip, fieldKeys)
		if m == nil || !d.Require(m, ip, "name", "dtype") {
			continue
		}
		f := Field{Pos: pos(d, it)}
		var ok bool
		if f.Name, ok = d.Str(m.Get("name"), yamlpos.Key(ip, "name")); !ok {
			continue
		}
		switch {
		case strings.HasPrefix(f.Name, "__"):
			d.Errorf(m.Get("name"), yamlpos.Key(ip, "name"), "field names starting with __ are reserved")
			continue
		case strings.ContainsAny(f.Name, ":@") || strings.TrimSpace(f.Name) != f.Name || f.Name == "":
			d.Errorf(m.Get("name"), yamlpos.Key(ip, "name"), "invalid field name %q: ':' and '@' are feature-reference separators", f.Name)
			continue
		}
		if prev, dup := seen[f.Name]; dup {
			d.Errorf(m.Get("name"), yamlpos.Key(ip, "name"), "duplicate field %q (first on line %d)", f.Name, prev)
			continue
		}
		seen[f.Name] = it.Line
		if f.DType, ok = d.Str(m.Get("dtype"), yamlpos.Key(ip, "dtype")); ok {
			t, err := ParseDType(f.DType)
			if err != nil {
				d.Errorf(m.Get("dtype"), yamlpos.Key(ip, "dtype"), "%v", err)
				continue
			}
			f.Type = t
		}
		f.Description, _ = d.Str(m.Get("description"), yamlpos.Key(ip, "description"))
		f.Tags, _ = d.StrMap(m.Get("tags"), yamlpos.Key(ip, "tags"))
		if v := m.Get("vector_index"); !yamlpos.IsNull(v) {
			f.VectorIndex, _ = d.Bool(v, yamlpos.Key(ip, "vector_index"))
		}
		f.VectorSearchMetric, _ = d.Str(m.Get("vector_search_metric"), yamlpos.Key(ip, "vector_search_metric"))
		if v := m.Get("vector_length"); !yamlpos.IsNull(v) {
			if n, ok := d.Int(v, yamlpos.Key(ip, "vector_length")); ok {
				if n < 1 || n > 1<<20 {
					d.Errorf(v, yamlpos.Key(ip, "vector_length"), "must be between 1 and 1048576")
				}
				f.VectorLength = int(n)
			}
		}
		out = append(out, f)
	}
	return out
}

var viewKeys = []string{"name", "entities", "schema", "ttl", "online", "offline", "source", "description", "tags", "owner"}

func (l *loader) parseFeatureView(d *yamlpos.Decoder, n *yaml.Node, path string) {
	path = named(n, path)
	m := d.Mapping(n, path, viewKeys)
	if m == nil {
		return
	}
	c := l.common(d, m, path)
	if !c.ok || !unique(d, l.views, "feature view", c.name, m, c.path) {
		return
	}
	key := func(k string) string { return yamlpos.Key(c.path, k) }
	fv := &FeatureView{Name: c.name, Online: true, Description: c.description, Owner: c.owner, Tags: c.tags, Pos: pos(d, n)}
	entityNodes, _ := d.Seq(m.Get("entities"), key("entities"))
	fv.Entities, _ = d.StrList(m.Get("entities"), key("entities"))
	if d.Require(m, c.path, "schema") {
		fv.Schema = l.schema(d, m.Get("schema"), key("schema"))
	}
	if v := m.Get("ttl"); !yamlpos.IsNull(v) {
		fv.TTL, _ = d.Duration(v, key("ttl"))
	}
	if v := m.Get("online"); !yamlpos.IsNull(v) {
		fv.Online, _ = d.Bool(v, key("online"))
	}
	if v := m.Get("offline"); !yamlpos.IsNull(v) {
		fv.Offline, _ = d.Bool(v, key("offline"))
	}
	var srcNode *yaml.Node
	if d.Require(m, c.path, "source") {
		srcNode = m.Get("source")
		fv.Source, _ = d.Str(srcNode, key("source"))
	}
	l.repo.FeatureViews = append(l.repo.FeatureViews, fv)

	l.later(phaseViews, func() {
		var src *Source
		if fv.Source != "" {
			switch src = l.repo.Source(fv.Source); {
			case src == nil:
				d.Errorf(srcNode, key("source"), "undefined source %q%s", fv.Source, suggest(fv.Source, l.sourceNames()))
			case src.Type == SourceRequest:
				d.Errorf(srcNode, key("source"), "%q is a request source; request sources feed on-demand feature views only", fv.Source)
				src = nil
			}
		}
		l.resolveView(d, fv, m, entityNodes, src, key)
	})
}

// resolveView checks a feature view's entities and schema against each other and splits the
// schema into entity columns and features, as Feast does at apply time.
func (l *loader) resolveView(d *yamlpos.Decoder, fv *FeatureView, m *yamlpos.Map, entityNodes []*yaml.Node, src *Source, key func(string) string) {
	byName := map[string]Field{}
	for _, f := range fv.Schema {
		byName[f.Name] = f
	}
	joinKeys := map[string]bool{}
	seen := map[string]bool{}
	for i, name := range fv.Entities {
		at, p := entityNodes[i], yamlpos.Index(key("entities"), i)
		e := l.repo.Entity(name)
		switch {
		case seen[name]:
			d.Errorf(at, p, "entity %q listed twice", name)
			continue
		case e == nil:
			d.Errorf(at, p, "undefined entity %q%s", name, suggest(name, l.entityNames()))
			continue
		case joinKeys[e.JoinKey]:
			d.Errorf(at, p, "entity %q uses join key %q, already used by another entity of this view", name, e.JoinKey)
			continue
		}
		seen[name], joinKeys[e.JoinKey] = true, true
		col, inSchema := byName[e.JoinKey]
		switch {
		case inSchema && e.ValueType != 0 && col.Type != e.ValueType:
			d.Errorf(at, p, "schema declares join key %q of entity %q as %s (line %d) but the entity's value_type is %s", e.JoinKey, name, col.Type, col.Line, e.ValueType)
			continue
		case inSchema && !joinKeyTypes[col.Type]:
			d.Errorf(at, p, "join key %q of entity %q is declared as %s (line %d); join keys must be STRING, BYTES, INT32 or INT64", e.JoinKey, name, col.Type, col.Line)
			continue
		case !inSchema && e.ValueType == 0:
			d.Errorf(at, p, "entity %q has no value_type and the schema does not declare its join key %q; declare one of them (larder does not infer types from data)", name, e.JoinKey)
			continue
		case !inSchema:
			col = Field{Name: e.JoinKey, DType: e.ValueType.String(), Type: e.ValueType, Pos: e.Pos}
		}
		fv.EntityColumns = append(fv.EntityColumns, col)
	}
	for _, f := range fv.Schema {
		if joinKeys[f.Name] {
			continue
		}
		if src != nil && (f.Name == src.TimestampField || (f.Name == src.CreatedTimestampColumn && f.Name != "")) {
			d.Errorf(m.Get("schema"), key("schema"), "field %q (line %d) is the timestamp column of source %q; timestamps are not features", f.Name, f.Line, src.Name)
			continue
		}
		fv.Features = append(fv.Features, f)
	}
	if len(fv.Schema) > 0 && len(fv.Features) == 0 {
		d.Errorf(m.Get("schema"), key("schema"), "declares no features (only join-key columns)")
	}
}

var odfvKeys = []string{"name", "sources", "schema", "module", "sha256", "function", "mode", "write_to_online_store", "description", "tags", "owner"}

var (
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	exportRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
)

func (l *loader) parseODFV(d *yamlpos.Decoder, n *yaml.Node, path string) {
	path = named(n, path)
	m := d.Mapping(n, path, odfvKeys)
	if m == nil {
		return
	}
	c := l.common(d, m, path)
	if !c.ok || !unique(d, l.views, "feature view", c.name, m, c.path) {
		return
	}
	key := func(k string) string { return yamlpos.Key(c.path, k) }
	o := &OnDemandFeatureView{Name: c.name, Function: c.name, Mode: ModeWasm, Description: c.description, Owner: c.owner, Tags: c.tags, Pos: pos(d, n)}
	var srcNodes []*yaml.Node
	if d.Require(m, c.path, "sources", "schema", "module", "sha256") {
		srcNodes, _ = d.Seq(m.Get("sources"), key("sources"))
		o.Sources, _ = d.StrList(m.Get("sources"), key("sources"))
		if len(srcNodes) == 0 {
			d.Errorf(m.Get("sources"), key("sources"), "must list at least one feature view or request source")
		}
		o.Schema = l.schema(d, m.Get("schema"), key("schema"))
		if s, ok := d.Str(m.Get("module"), key("module")); ok {
			if !strings.HasSuffix(s, ".wasm") {
				d.Errorf(m.Get("module"), key("module"), "expected a .wasm module, got %q", s)
			}
			o.Module = s
		}
		if s, ok := d.Str(m.Get("sha256"), key("sha256")); ok {
			s = strings.ToLower(strings.TrimPrefix(s, "sha256:"))
			if !sha256RE.MatchString(s) {
				d.Errorf(m.Get("sha256"), key("sha256"), "expected 64 hex digits (the module's SHA-256, e.g. from `sha256sum`)")
			} else {
				o.SHA256 = s
				l.checkModule(d, m, o, key)
			}
		}
	}
	if v := m.Get("function"); !yamlpos.IsNull(v) {
		if s, ok := d.Str(v, key("function")); ok {
			if !exportRE.MatchString(s) {
				d.Errorf(v, key("function"), "invalid export name %q", s)
			}
			o.Function = s
		}
	}
	if v := m.Get("mode"); !yamlpos.IsNull(v) {
		if s, ok := d.Str(v, key("mode")); ok {
			switch s {
			case ModeWasm:
			case "python", "pandas", "substrait":
				d.Errorf(v, key("mode"), "%s transformations are not supported: compile the function to Wasm (sdk-go or sdk-rust) and use mode: wasm", s)
			default:
				d.Errorf(v, key("mode"), "unknown mode %q (known: wasm)", s)
			}
			o.Mode = s
		}
	}
	if v := m.Get("write_to_online_store"); !yamlpos.IsNull(v) {
		o.WriteToOnlineStore, _ = d.Bool(v, key("write_to_online_store"))
	}
	l.repo.OnDemandFeatureViews = append(l.repo.OnDemandFeatureViews, o)

	l.later(phaseODFVs, func() {
		seen := map[string]bool{}
		for i, name := range o.Sources {
			at, p := srcNodes[i], yamlpos.Index(key("sources"), i)
			if seen[name] {
				d.Errorf(at, p, "source %q listed twice", name)
				continue
			}
			seen[name] = true
			if l.repo.FeatureView(name) != nil {
				continue
			}
			if src := l.repo.Source(name); src != nil {
				if src.Type != SourceRequest {
					d.Errorf(at, p, "%q is a %s source; an on-demand feature view reads feature views and request sources", name, src.Type)
				}
				continue
			}
			if name == o.Name {
				d.Errorf(at, p, "an on-demand feature view cannot read itself")
				continue
			}
			if l.repo.OnDemandFeatureView(name) != nil {
				d.Errorf(at, p, "%q is an on-demand feature view; on-demand feature views read feature views and request sources", name)
				continue
			}
			d.Errorf(at, p, "undefined feature view or request source %q%s", name, suggest(name, append(l.viewNames(), l.sourceNames()...)))
		}
	})
}

// checkModule verifies the module exists and has the declared digest, so a stale build is
// caught at plan/apply time with the line to fix rather than when the server starts.
func (l *loader) checkModule(d *yamlpos.Decoder, m *yamlpos.Map, o *OnDemandFeatureView, key func(string) string) {
	if o.Module == "" {
		return
	}
	p := o.Module
	if !filepath.IsAbs(p) {
		p = filepath.Join(l.repo.Dir, p)
	}
	sum, err := fileSHA256(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.Errorf(m.Get("module"), key("module"), "module %s does not exist (build it first)", p)
	case err != nil:
		d.Errorf(m.Get("module"), key("module"), "reading module: %v", err)
	case sum != o.SHA256:
		d.Errorf(m.Get("sha256"), key("sha256"), "does not match module %s (its sha256 is %s)", o.Module, sum)
	}
}

var serviceKeys = []string{"name", "features", "description", "tags", "owner"}

func (l *loader) parseFeatureService(d *yamlpos.Decoder, n *yaml.Node, path string) {
	path = named(n, path)
	m := d.Mapping(n, path, serviceKeys)
	if m == nil {
		return
	}
	c := l.common(d, m, path)
	if !c.ok || !unique(d, l.services, "feature service", c.name, m, c.path) {
		return
	}
	key := func(k string) string { return yamlpos.Key(c.path, k) }
	svc := &FeatureService{Name: c.name, Description: c.description, Owner: c.owner, Tags: c.tags, Pos: pos(d, n)}
	l.repo.FeatureServices = append(l.repo.FeatureServices, svc)
	if !d.Require(m, c.path, "features") {
		return
	}
	items, ok := d.Seq(m.Get("features"), key("features"))
	if !ok {
		return
	}
	if len(items) == 0 {
		d.Errorf(m.Get("features"), key("features"), "must select at least one feature view")
		return
	}
	type projAt struct {
		node, viewNode *yaml.Node
		featureNodes   []*yaml.Node
		path           string
	}
	var ats []projAt
	for i, it := range items {
		ip := yamlpos.Index(key("features"), i)
		pr := Projection{Pos: pos(d, it)}
		at := projAt{node: it, viewNode: it, path: ip}
		if it.Kind == yaml.ScalarNode {
			pr.View, _ = d.Str(it, ip)
			pr.All = true
		} else {
			pm := d.Mapping(it, ip, []string{"view", "features", "alias", "join_key_map"})
			if pm == nil || !d.Require(pm, ip, "view") {
				continue
			}
			at.viewNode = pm.Get("view")
			pr.View, _ = d.Str(at.viewNode, yamlpos.Key(ip, "view"))
			if v := pm.Get("features"); !yamlpos.IsNull(v) {
				at.featureNodes, _ = d.Seq(v, yamlpos.Key(ip, "features"))
				pr.Features, _ = d.StrList(v, yamlpos.Key(ip, "features"))
			} else {
				pr.All = true
			}
			if v := pm.Get("alias"); !yamlpos.IsNull(v) {
				pr.Alias, _ = d.Str(v, yamlpos.Key(ip, "alias"))
				if !nameRE.MatchString(pr.Alias) {
					d.Errorf(v, yamlpos.Key(ip, "alias"), "invalid alias %q: use letters, digits and underscores", pr.Alias)
				}
			}
			pr.JoinKeyMap, _ = d.StrMap(pm.Get("join_key_map"), yamlpos.Key(ip, "join_key_map"))
		}
		svc.Features = append(svc.Features, pr)
		ats = append(ats, at)
	}
	l.later(phaseServices, func() {
		names := map[string]int{}
		for i := range svc.Features {
			pr, at := &svc.Features[i], ats[i]
			vp := at.path
			if at.viewNode != at.node {
				vp = yamlpos.Key(at.path, "view")
			}
			var all []string
			var joinKeys []string
			if fv := l.repo.FeatureView(pr.View); fv != nil {
				for _, f := range fv.Features {
					all = append(all, f.Name)
				}
				for _, c := range fv.EntityColumns {
					joinKeys = append(joinKeys, c.Name)
				}
			} else if o := l.repo.OnDemandFeatureView(pr.View); o != nil {
				for _, f := range o.Schema {
					all = append(all, f.Name)
				}
			} else {
				d.Errorf(at.viewNode, vp, "undefined feature view %q%s", pr.View, suggest(pr.View, l.viewNames()))
				continue
			}
			name := pr.View
			if pr.Alias != "" {
				name = pr.Alias
			}
			if prev, dup := names[name]; dup {
				d.Errorf(at.viewNode, vp, "feature view %q is selected twice (first on line %d); give one an alias", name, prev)
				continue
			}
			names[name] = at.node.Line
			if pr.All {
				pr.Features = all
			} else {
				if len(pr.Features) == 0 {
					d.Errorf(at.node, yamlpos.Key(at.path, "features"), "selects no features (omit features to select all)")
				}
				seen := map[string]bool{}
				for j, f := range pr.Features {
					fp := yamlpos.Index(yamlpos.Key(at.path, "features"), j)
					switch {
					case seen[f]:
						d.Errorf(at.featureNodes[j], fp, "feature %q selected twice", f)
					case !slices.Contains(all, f):
						d.Errorf(at.featureNodes[j], fp, "feature view %q has no feature %q%s", pr.View, f, suggest(f, all))
					}
					seen[f] = true
				}
			}
			for k := range pr.JoinKeyMap {
				if !slices.Contains(joinKeys, k) {
					d.Errorf(at.node, yamlpos.Key(yamlpos.Key(at.path, "join_key_map"), k), "%q is not a join key of feature view %q (join keys: %s)", k, pr.View, strings.Join(joinKeys, ", "))
				}
			}
		}
	})
}

func (l *loader) entityNames() []string {
	out := make([]string, len(l.repo.Entities))
	for i, e := range l.repo.Entities {
		out[i] = e.Name
	}
	return out
}

func (l *loader) sourceNames() []string {
	out := make([]string, len(l.repo.Sources))
	for i, s := range l.repo.Sources {
		out[i] = s.Name
	}
	return out
}

func (l *loader) viewNames() []string {
	var out []string
	for _, v := range l.repo.FeatureViews {
		out = append(out, v.Name)
	}
	for _, v := range l.repo.OnDemandFeatureViews {
		out = append(out, v.Name)
	}
	return out
}

// suggest returns ` (did you mean "x"?)` for a near miss, or "".
func suggest(s string, names []string) string {
	if best := yamlpos.Closest(s, names); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
