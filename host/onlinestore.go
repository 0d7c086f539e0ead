package host

import (
	"context"
	"time"

	"github.com/larder-dev/larder/abi"
)

// OnlineStore is Feast's OnlineStore contract in plain Go. Entity keys arrive already
// serialized (Feast entity-key serialization) and values as serialized feast.types.Value
// protobuf messages, so every implementation is byte-compatible with Feast's layouts.
//
// Implementations: the Wasm plugin adapter (LoadOnlineStore) and, for benchmarks and
// reference tests only, native Go stores.
type OnlineStore interface {
	Update(ctx context.Context, req UpdateRequest) error
	Teardown(ctx context.Context, req UpdateRequest) error
	Write(ctx context.Context, req WriteRequest) error
	Read(ctx context.Context, req ReadRequest) (*ReadResult, error)
	Close(ctx context.Context) error
}

// Table describes one feature view's table in an online store.
type Table struct {
	Name     string   `json:"name"`
	Features []string `json:"features"`
	JoinKeys []string `json:"join_keys"`
}

// UpdateRequest is the input of Update and Teardown (spec §8.1).
type UpdateRequest struct {
	Project        string  `json:"project"`
	TablesToKeep   []Table `json:"tables_to_keep"`
	TablesToDelete []Table `json:"tables_to_delete"`
}

// WriteRequest writes rows of one feature view (spec §8.2).
type WriteRequest struct {
	Project  string
	View     string
	Features []string
	Rows     []WriteRow
}

// WriteRow is one entity's values; Values[i] belongs to Features[i], nil = not written.
type WriteRow struct {
	EntityKey []byte
	EventTS   time.Time
	CreatedTS time.Time // zero = none
	Values    [][]byte
}

// ReadRequest reads features of several views in one call (spec §8.3).
type ReadRequest struct {
	Project string
	Views   []ReadView
}

// ReadView names a view, the features to read and the serialized entity keys to read them for.
type ReadView struct {
	Name       string
	Features   []string
	EntityKeys [][]byte
}

// ReadResult holds, for each view of the request, one FeatureValue per (entity key, feature),
// entity-major: Views[v][k*len(Features)+f].
type ReadResult struct {
	Views [][]FeatureValue
}

// FeatureValue is one stored value: the serialized Value, its event timestamp and status
// (PRESENT or NOT_FOUND).
type FeatureValue struct {
	Value   []byte
	EventTS time.Time
	Status  abi.FieldStatus
}
