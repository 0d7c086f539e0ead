package repo

import (
	"time"

	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/internal/yamlpos"
)

// Error is one problem in a definition file: file (relative to the repo dir), line, the
// field's path and what is wrong.
type Error = yamlpos.Error

// ErrorList is every problem Load found, ordered by file and line.
type ErrorList = yamlpos.ErrorList

// Pos is where an object is defined: a file relative to Repo.Dir and a 1-based line.
type Pos struct {
	File string
	Line int
}

// Repo is a parsed and validated feature repo. Objects keep the order in which they appear
// (files in lexical order, then document order). Derived fields (FeatureView.Features,
// FeatureView.EntityColumns, Projection.Features) are filled in by validation.
type Repo struct {
	// Dir is the absolute repo directory; relative paths in definitions are relative to it.
	Dir string
	// Files are the definition files read, relative to Dir.
	Files []string
	// Project is the optional `project:` metadata block (nil when absent).
	Project              *Project
	Entities             []*Entity
	Sources              []*Source
	FeatureViews         []*FeatureView
	OnDemandFeatureViews []*OnDemandFeatureView
	FeatureServices      []*FeatureService
}

// Project is descriptive metadata for the project named in feature_store.yaml.
type Project struct {
	Name        string // optional; when set it must match feature_store.yaml's project
	Description string
	Owner       string
	Tags        map[string]string
	Pos
}

// Entity is a Feast entity: a named join key.
type Entity struct {
	Name string
	// JoinKey is the column entity rows are joined on. Feast entities have exactly one;
	// it defaults to Name.
	JoinKey string
	// ValueType is the join key's type (STRING, BYTES, INT32 or INT64), or TypeInvalid when
	// not declared; then every feature view using the entity must declare the join key
	// column in its schema.
	ValueType   feast.ValueType
	Description string
	Owner       string
	Tags        map[string]string
	Pos
}

// SourceType says what kind of data source a Source is.
type SourceType string

// Source types.
const (
	SourceFile    SourceType = "file"    // a Parquet or CSV file read by the offline engine
	SourcePush    SourceType = "push"    // rows pushed through /push, optionally backed by a batch source
	SourceRequest SourceType = "request" // values that arrive with the request, for ODFVs
	// SourcePostgres is Feast's PostgreSQLSource: a table or a query in the PostgreSQL
	// database of a `type: postgres` offline store.
	SourcePostgres SourceType = "postgres"
)

// File formats of a file source.
const (
	FormatParquet = "parquet"
	FormatCSV     = "csv"
)

// Source is a data source. Which fields are meaningful depends on Type.
type Source struct {
	Name        string
	Type        SourceType
	Description string
	Owner       string
	Tags        map[string]string

	// File sources.
	Path                   string            // as written; relative paths are relative to Repo.Dir
	FileFormat             string            // FormatParquet or FormatCSV
	TimestampField         string            // event timestamp column
	CreatedTimestampColumn string            // optional; breaks ties between rows with equal event timestamps
	DatePartitionColumn    string            // optional
	FieldMapping           map[string]string // source column → feature/column name

	// Postgres sources (timestamps and field_mapping as for file sources): a table,
	// possibly schema-qualified, or a SELECT; table wins when both are set, as in Feast.
	Table string
	Query string

	// Push sources: the file source that backs the pushed data offline (optional).
	BatchSource string

	// Request sources: the request-time fields.
	Schema []Field

	Pos
}

// Field is a named, typed column: a feature, an entity column or a request field.
type Field struct {
	Name string
	// DType is the type as written ("Float32", "Array(Int64)", "INT64_LIST").
	DType string
	// Type is the Feast value type DType denotes.
	Type               feast.ValueType
	Description        string
	Tags               map[string]string
	VectorIndex        bool
	VectorSearchMetric string
	VectorLength       int
	Pos
}

// FeatureView is a group of features read from one source and keyed by its entities.
type FeatureView struct {
	Name     string
	Entities []string // entity names; empty for an entity-less view
	// Schema is the schema as declared, which may include join-key columns.
	Schema []Field
	// Features is Schema without the join-key columns (derived).
	Features []Field
	// EntityColumns are the join-key columns, one per entity, typed from the schema or the
	// entity's value_type (derived).
	EntityColumns []Field
	// TTL bounds how old a value may be; 0 means no limit.
	TTL         time.Duration
	Online      bool // default true
	Offline     bool
	Source      string // a file or push source
	Description string
	Owner       string
	Tags        map[string]string
	Pos
}

// Feature returns the feature with the given name, if the view has it.
func (fv *FeatureView) Feature(name string) (Field, bool) {
	for _, f := range fv.Features {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// ODFV transformation modes.
const ModeWasm = "wasm"

// OnDemandFeatureView computes features from feature views and request data with a Wasm
// function.
type OnDemandFeatureView struct {
	Name    string
	Sources []string // feature view and request source names
	Schema  []Field  // the features it produces
	// Module is the .wasm path as written, relative to Repo.Dir.
	Module string
	// SHA256 is the module's expected lowercase hex digest (checked by Load).
	SHA256 string
	// Function is the export that computes the view; defaults to Name.
	Function           string
	Mode               string // ModeWasm
	WriteToOnlineStore bool
	Description        string
	Owner              string
	Tags               map[string]string
	Pos
}

// Feature returns the output feature with the given name.
func (o *OnDemandFeatureView) Feature(name string) (Field, bool) {
	for _, f := range o.Schema {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// FeatureService groups features from several views, usually one per model version.
type FeatureService struct {
	Name        string
	Features    []Projection
	Description string
	Owner       string
	Tags        map[string]string
	Pos
}

// Projection selects features of one feature view or on-demand feature view.
type Projection struct {
	View string
	// All is true when the whole view was selected (Features then lists all of them).
	All bool
	// Features are the selected feature names (filled for All by validation).
	Features []string
	// Alias renames the view in this service (Feast's with_name).
	Alias string
	// JoinKeyMap maps the view's join keys to the request's column names
	// (Feast's with_join_key_map).
	JoinKeyMap map[string]string
	Pos
}

// Entity returns the entity with the given name, or nil.
func (r *Repo) Entity(name string) *Entity {
	for _, e := range r.Entities {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// Source returns the source with the given name, or nil.
func (r *Repo) Source(name string) *Source {
	for _, s := range r.Sources {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// FeatureView returns the feature view with the given name, or nil.
func (r *Repo) FeatureView(name string) *FeatureView {
	for _, v := range r.FeatureViews {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// OnDemandFeatureView returns the on-demand feature view with the given name, or nil.
func (r *Repo) OnDemandFeatureView(name string) *OnDemandFeatureView {
	for _, v := range r.OnDemandFeatureViews {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// FeatureService returns the feature service with the given name, or nil.
func (r *Repo) FeatureService(name string) *FeatureService {
	for _, s := range r.FeatureServices {
		if s.Name == name {
			return s
		}
	}
	return nil
}
