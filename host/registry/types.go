package registry

import (
	"strconv"
	"time"

	"github.com/larder-dev/larder/host/feast"
)

// Field numbers below are Feast's (feast/core/*.proto); each struct lists only the fields
// Larder uses. Every message keeps the fields it does not model in `unknown` and writes
// them back in field-number order, so a registry.db written by a newer Feast (stream
// feature views, permissions, saved datasets, infra, label views, logging configs, other
// source options …) survives a load/save cycle unchanged.

// Registry is feast.core.Registry, the whole content of a file registry (registry.db).
type Registry struct {
	Entities              []*Entity              // 1
	RegistrySchemaVersion string                 // 3, "1"
	VersionID             string                 // 4, a UUID, new on every save
	LastUpdated           *feast.Timestamp       // 5
	FeatureViews          []*FeatureView         // 6 (batch feature views too)
	FeatureServices       []*FeatureService      // 7
	OnDemandFeatureViews  []*OnDemandFeatureView // 8
	DataSources           []*DataSource          // 12
	StreamFeatureViews    []*StreamFeatureView   // 14
	ProjectMetadata       []*ProjectMetadata     // 15 (deprecated by Projects)
	Projects              []*Project             // 17
	LabelViews            []*LabelView           // 19

	unknown unknownFields
}

// ProjectMetadata is feast.core.ProjectMetadata.
type ProjectMetadata struct {
	Project     string // 1
	ProjectUUID string // 2
	unknown     unknownFields
}

// Project is feast.core.Project.
type Project struct {
	Spec    *ProjectSpec // 1
	Meta    *Meta        // 2
	unknown unknownFields
}

// ProjectSpec is feast.core.ProjectSpec.
type ProjectSpec struct {
	Name        string            // 1
	Description string            // 2
	Tags        map[string]string // 3
	Owner       string            // 4
	unknown     unknownFields
}

// Meta is the {created_timestamp = 1, last_updated_timestamp = 2} message shared (as
// separate but identical messages) by entities, feature services, projects and label
// views.
type Meta struct {
	CreatedTimestamp     *feast.Timestamp // 1
	LastUpdatedTimestamp *feast.Timestamp // 2
	unknown              unknownFields
}

// Entity is feast.core.Entity.
type Entity struct {
	Spec    *EntitySpec // 1
	Meta    *Meta       // 2
	unknown unknownFields
}

// EntitySpec is feast.core.EntitySpecV2.
type EntitySpec struct {
	Name        string            // 1
	ValueType   feast.ValueType   // 2
	Description string            // 3
	JoinKey     string            // 4
	Tags        map[string]string // 8
	Project     string            // 9
	Owner       string            // 10
	unknown     unknownFields
}

// FeatureView is feast.core.FeatureView.
type FeatureView struct {
	Spec    *FeatureViewSpec // 1
	Meta    *FeatureViewMeta // 2
	unknown unknownFields
}

// FeatureViewSpec is feast.core.FeatureViewSpec.
type FeatureViewSpec struct {
	Name                  string                 // 1
	Project               string                 // 2
	Entities              []string               // 3, entity names ("__dummy" for entity-less views)
	Features              []*FeatureSpec         // 4
	Tags                  map[string]string      // 5
	TTL                   *Duration              // 6; nil or 0 = no expiry
	BatchSource           *DataSource            // 7
	Online                bool                   // 8
	StreamSource          *DataSource            // 9 (push sources live here)
	Description           string                 // 10
	Owner                 string                 // 11
	EntityColumns         []*FeatureSpec         // 12, join-key columns with their types
	Offline               bool                   // 13
	SourceViews           []*FeatureViewSpec     // 14
	FeatureTransformation *FeatureTransformation // 15
	Mode                  string                 // 16
	EnableValidation      bool                   // 17
	Version               string                 // 18
	Org                   string                 // 19
	Disabled              bool                   // 20
	unknown               unknownFields
}

// FeatureViewMeta is feast.core.FeatureViewMeta (also used by stream feature views).
type FeatureViewMeta struct {
	CreatedTimestamp         *feast.Timestamp           // 1
	LastUpdatedTimestamp     *feast.Timestamp           // 2
	MaterializationIntervals []*MaterializationInterval // 3
	CurrentVersionNumber     int32                      // 4
	VersionID                string                     // 5
	State                    FeatureViewState           // 6
	unknown                  unknownFields
}

// MaterializationInterval is feast.core.MaterializationInterval.
type MaterializationInterval struct {
	StartTime *feast.Timestamp // 1
	EndTime   *feast.Timestamp // 2
	unknown   unknownFields
}

// FeatureViewState is feast.core.FeatureViewState.
type FeatureViewState int32

const (
	StateUnspecified     FeatureViewState = 0
	StateCreated         FeatureViewState = 1
	StateGenerated       FeatureViewState = 2
	StateMaterializing   FeatureViewState = 3
	StateAvailableOnline FeatureViewState = 4
)

func (s FeatureViewState) String() string {
	switch s {
	case StateUnspecified:
		return "STATE_UNSPECIFIED"
	case StateCreated:
		return "CREATED"
	case StateGenerated:
		return "GENERATED"
	case StateMaterializing:
		return "MATERIALIZING"
	case StateAvailableOnline:
		return "AVAILABLE_ONLINE"
	}
	return "FeatureViewState(" + strconv.Itoa(int(s)) + ")"
}

// FeatureSpec is feast.core.FeatureSpecV2: a named, typed column (a feature, a join-key
// column, or a request-source field).
type FeatureSpec struct {
	Name               string            // 1
	ValueType          feast.ValueType   // 2
	Tags               map[string]string // 3
	Description        string            // 4
	VectorIndex        bool              // 5
	VectorSearchMetric string            // 6
	VectorLength       int32             // 7
	unknown            unknownFields
}

// SourceType is feast.core.DataSource.SourceType.
type SourceType int32

const (
	SourceInvalid        SourceType = 0
	SourceBatchFile      SourceType = 1
	SourceBatchBigQuery  SourceType = 2
	SourceStreamKafka    SourceType = 3
	SourceStreamKinesis  SourceType = 4
	SourceBatchRedshift  SourceType = 5
	SourceCustom         SourceType = 6
	SourceRequest        SourceType = 7
	SourceBatchSnowflake SourceType = 8
	SourcePush           SourceType = 9
	SourceBatchTrino     SourceType = 10
	SourceBatchSpark     SourceType = 11
	SourceBatchAthena    SourceType = 12
	SourceBatchIceberg   SourceType = 13
)

var sourceTypeNames = [...]string{
	"INVALID", "BATCH_FILE", "BATCH_BIGQUERY", "STREAM_KAFKA", "STREAM_KINESIS", "BATCH_REDSHIFT",
	"CUSTOM_SOURCE", "REQUEST_SOURCE", "BATCH_SNOWFLAKE", "PUSH_SOURCE", "BATCH_TRINO", "BATCH_SPARK",
	"BATCH_ATHENA", "BATCH_ICEBERG",
}

func (t SourceType) String() string {
	if t >= 0 && int(t) < len(sourceTypeNames) {
		return sourceTypeNames[t]
	}
	return "SourceType(" + strconv.Itoa(int(t)) + ")"
}

// DataSource is feast.core.DataSource. Exactly one of the option pointers is normally
// set (the proto's `options` oneof); options of sources Larder does not model (BigQuery,
// Snowflake, Kafka, …) are kept as unknown fields.
type DataSource struct {
	Type                   SourceType           // 1
	FieldMapping           map[string]string    // 2, source column → feature name
	TimestampField         string               // 3
	DatePartitionColumn    string               // 4
	CreatedTimestampColumn string               // 5
	FileOptions            *FileOptions         // 11
	CustomOptions          *CustomSourceOptions // 16
	DataSourceClassType    string               // 17, the Python class path
	RequestDataOptions     *RequestDataOptions  // 18
	Name                   string               // 20
	Project                string               // 21
	PushOptions            *PushOptions         // 22
	Description            string               // 23
	Tags                   map[string]string    // 24
	Owner                  string               // 25
	BatchSource            *DataSource          // 26, the offline side of a push/stream source
	TimestampFieldType     string               // 28, "TIMESTAMP" or "DATE"
	Meta                   *SourceMeta          // 50
	unknown                unknownFields
}

// FileOptions is feast.core.DataSource.FileOptions.
type FileOptions struct {
	FileFormat         *FileFormat // 1
	URI                string      // 2, the path: relative, file://, s3://, gs://
	S3EndpointOverride string      // 3
	unknown            unknownFields
}

// FileFormat is feast.core.FileFormat; only Parquet is modelled (delta is kept unknown).
type FileFormat struct {
	Parquet bool // 1, ParquetFormat{} present
	unknown unknownFields
}

// CustomSourceOptions is feast.core.DataSource.CustomSourceOptions.
type CustomSourceOptions struct {
	Configuration []byte // 1
	unknown       unknownFields
}

// RequestDataOptions is feast.core.DataSource.RequestDataOptions: the schema of data a
// request supplies to on-demand feature views.
type RequestDataOptions struct {
	DeprecatedSchema map[string]feast.ValueType // 2
	Schema           []*FeatureSpec             // 3
	unknown          unknownFields
}

// PushOptions is feast.core.DataSource.PushOptions (no fields; its presence marks a push
// source).
type PushOptions struct {
	unknown unknownFields
}

// SourceMeta is feast.core.DataSource.SourceMeta.
type SourceMeta struct {
	EarliestEventTimestamp *feast.Timestamp // 1
	LatestEventTimestamp   *feast.Timestamp // 2
	CreatedTimestamp       *feast.Timestamp // 3
	LastUpdatedTimestamp   *feast.Timestamp // 4
	unknown                unknownFields
}

// OnDemandFeatureView is feast.core.OnDemandFeatureView.
type OnDemandFeatureView struct {
	Spec    *OnDemandFeatureViewSpec // 1
	Meta    *OnDemandFeatureViewMeta // 2
	unknown unknownFields
}

// OnDemandFeatureViewSpec is feast.core.OnDemandFeatureViewSpec.
type OnDemandFeatureViewSpec struct {
	Name                  string                     // 1
	Project               string                     // 2
	Features              []*FeatureSpec             // 3
	Sources               map[string]*OnDemandSource // 4, keyed by source name
	UserDefinedFunction   *UserDefinedFunction       // 5, deprecated
	Description           string                     // 6
	Tags                  map[string]string          // 7
	Owner                 string                     // 8
	FeatureTransformation *FeatureTransformation     // 10
	Mode                  string                     // 11, "pandas" | "python" | "substrait"
	WriteToOnlineStore    bool                       // 12
	Entities              []string                   // 13
	EntityColumns         []*FeatureSpec             // 14
	Singleton             bool                       // 15
	Aggregations          []*Aggregation             // 16
	Version               string                     // 17
	Org                   string                     // 18
	Disabled              bool                       // 19
	unknown               unknownFields
}

// OnDemandFeatureViewMeta is feast.core.OnDemandFeatureViewMeta.
type OnDemandFeatureViewMeta struct {
	CreatedTimestamp     *feast.Timestamp // 1
	LastUpdatedTimestamp *feast.Timestamp // 2
	CurrentVersionNumber int32            // 3
	VersionID            string           // 4
	State                FeatureViewState // 5
	unknown              unknownFields
}

// OnDemandSource is feast.core.OnDemandSource, a oneof: one pointer is set.
type OnDemandSource struct {
	FeatureView           *FeatureView           // 1
	RequestDataSource     *DataSource            // 2
	FeatureViewProjection *FeatureViewProjection // 3
	unknown               unknownFields
}

// FeatureTransformation is feast.core.FeatureTransformationV2, a oneof.
type FeatureTransformation struct {
	UserDefinedFunction     *UserDefinedFunction     // 1
	SubstraitTransformation *SubstraitTransformation // 2
	unknown                 unknownFields
}

// UserDefinedFunction is feast.core.UserDefinedFunctionV2 (and the deprecated
// UserDefinedFunction, which lacks Mode). For Larder ODFVs Body holds what our runtime
// needs to find the Wasm function; for Feast's it is a dill pickle.
type UserDefinedFunction struct {
	Name     string // 1
	Body     []byte // 2
	BodyText string // 3
	Mode     string // 4
	unknown  unknownFields
}

// SubstraitTransformation is feast.core.SubstraitTransformationV2.
type SubstraitTransformation struct {
	SubstraitPlan []byte // 1
	IbisFunction  []byte // 2
	unknown       unknownFields
}

// Aggregation is feast.core.Aggregation.
type Aggregation struct {
	Column        string    // 1
	Function      string    // 2
	TimeWindow    *Duration // 3
	SlideInterval *Duration // 4
	Name          string    // 5
	unknown       unknownFields
}

// StreamFeatureView is feast.core.StreamFeatureView.
type StreamFeatureView struct {
	Spec    *StreamFeatureViewSpec // 1
	Meta    *FeatureViewMeta       // 2
	unknown unknownFields
}

// StreamFeatureViewSpec is feast.core.StreamFeatureViewSpec (its field numbers differ
// from FeatureViewSpec's).
type StreamFeatureViewSpec struct {
	Name                  string                 // 1
	Project               string                 // 2
	Entities              []string               // 3
	Features              []*FeatureSpec         // 4
	EntityColumns         []*FeatureSpec         // 5
	Description           string                 // 6
	Tags                  map[string]string      // 7
	Owner                 string                 // 8
	TTL                   *Duration              // 9
	BatchSource           *DataSource            // 10
	StreamSource          *DataSource            // 11
	Online                bool                   // 12
	UserDefinedFunction   *UserDefinedFunction   // 13, deprecated
	Mode                  string                 // 14
	Aggregations          []*Aggregation         // 15
	TimestampField        string                 // 16
	FeatureTransformation *FeatureTransformation // 17
	EnableTiling          bool                   // 18
	TilingHopSize         *Duration              // 19
	EnableValidation      bool                   // 20
	Version               string                 // 21
	Org                   string                 // 22
	Disabled              bool                   // 23
	unknown               unknownFields
}

// LabelView is feast.core.LabelView: a view of mutable human labels fed by a push
// source, stored online like a feature view.
type LabelView struct {
	Spec    *LabelViewSpec // 1
	Meta    *Meta          // 2
	unknown unknownFields
}

// LabelViewSpec is feast.core.LabelViewSpec.
type LabelViewSpec struct {
	Name                 string            // 1
	Project              string            // 2
	Entities             []string          // 3
	Features             []*FeatureSpec    // 4
	Tags                 map[string]string // 5
	TTL                  *Duration         // 6
	Source               *DataSource       // 7
	Online               bool              // 8
	Description          string            // 9
	Owner                string            // 10
	EntityColumns        []*FeatureSpec    // 11
	LabelerField         string            // 12
	ConflictPolicy       ConflictPolicy    // 13
	RetainHistory        bool              // 14
	ReferenceFeatureView string            // 15
	unknown              unknownFields
}

// ConflictPolicy is feast.core.ConflictResolutionPolicy.
type ConflictPolicy int32

const (
	LastWriteWins   ConflictPolicy = 0
	LabelerPriority ConflictPolicy = 1
	MajorityVote    ConflictPolicy = 2
)

func (c ConflictPolicy) String() string {
	switch c {
	case LastWriteWins:
		return "LAST_WRITE_WINS"
	case LabelerPriority:
		return "LABELER_PRIORITY"
	case MajorityVote:
		return "MAJORITY_VOTE"
	}
	return "ConflictPolicy(" + strconv.Itoa(int(c)) + ")"
}

// FeatureService is feast.core.FeatureService.
type FeatureService struct {
	Spec    *FeatureServiceSpec // 1
	Meta    *Meta               // 2
	unknown unknownFields
}

// FeatureServiceSpec is feast.core.FeatureServiceSpec. Its logging_config (7) is kept
// as an unknown field.
type FeatureServiceSpec struct {
	Name             string                   // 1
	Project          string                   // 2
	Features         []*FeatureViewProjection // 3
	Tags             map[string]string        // 4
	Description      string                   // 5
	Owner            string                   // 6
	PrecomputeOnline bool                     // 8
	unknown          unknownFields
}

// FeatureViewProjection is feast.core.FeatureViewProjection: a view (possibly renamed,
// possibly a subset of its features) as used by a feature service or an ODFV.
type FeatureViewProjection struct {
	FeatureViewName        string            // 1
	FeatureColumns         []*FeatureSpec    // 2
	FeatureViewNameAlias   string            // 3
	JoinKeyMap             map[string]string // 4, view join key → request column
	TimestampField         string            // 5
	DatePartitionColumn    string            // 6
	CreatedTimestampColumn string            // 7
	BatchSource            *DataSource       // 8
	StreamSource           *DataSource       // 9
	VersionTag             *int32            // 10 (proto3 optional: set even when 0)
	ViewType               string            // 11
	unknown                unknownFields
}

// NameToUse is the projection's alias if it has one, else the view name (Feast's
// name_to_use without the version suffix).
func (p *FeatureViewProjection) NameToUse() string {
	if p.FeatureViewNameAlias != "" {
		return p.FeatureViewNameAlias
	}
	return p.FeatureViewName
}

// Duration is google.protobuf.Duration.
type Duration struct {
	Seconds int64
	Nanos   int32
}

// DurationOf converts a time.Duration.
func DurationOf(d time.Duration) *Duration {
	return &Duration{Seconds: int64(d / time.Second), Nanos: int32(d % time.Second)}
}

// Std returns d as a time.Duration (0 for nil), saturating at the int64 range.
func (d *Duration) Std() time.Duration {
	if d == nil {
		return 0
	}
	const maxSec = int64(1<<63-1) / int64(time.Second)
	switch {
	case d.Seconds > maxSec:
		return time.Duration(1<<63 - 1)
	case d.Seconds < -maxSec:
		return time.Duration(-1 << 63)
	}
	return time.Duration(d.Seconds)*time.Second + time.Duration(d.Nanos)
}
