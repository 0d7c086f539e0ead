package abi

import (
	"errors"
	"fmt"
)

// Version of the ABI this package implements.
const (
	Major = 1
	Minor = 0
)

// MarkerPrefix starts the name of the version marker export: larder_abi_v<major>_<minor>.
const MarkerPrefix = "larder_abi_v"

// Marker returns the marker export name for a version.
func Marker(major, minor int) string { return fmt.Sprintf("%s%d_%d", MarkerPrefix, major, minor) }

// ImportModule is the module name host functions are imported from.
const ImportModule = "larder_v1"

// Common exports.
const (
	ExportMemory     = "memory"
	ExportInitialize = "_initialize"
	ExportAlloc      = "larder_alloc"
	ExportFree       = "larder_free"
	ExportDescribe   = "larder_describe"
	ExportInit       = "larder_init"
	ExportLastError  = "larder_last_error"
	ExportResult     = "larder_result"
)

// Online store kind exports.
const (
	ExportOnlineUpdate   = "larder_online_update"
	ExportOnlineTeardown = "larder_online_teardown"
	ExportOnlineWrite    = "larder_online_write"
	ExportOnlineRead     = "larder_online_read"
)

// Offline store kind exports (spec §9). Pull-latest is required; historical, pull-all and
// write are optional, detected by presence.
const (
	ExportOfflinePlanPullLatest = "larder_offline_plan_pull_latest"
	ExportOfflinePlanHistorical = "larder_offline_plan_historical"
	ExportOfflinePlanPullAll    = "larder_offline_plan_pull_all"
	ExportOfflinePlanWrite      = "larder_offline_plan_write"
)

// Transformation kind export (spec §10).
const ExportTransform = "larder_transform"

// Plugin kinds as they appear in the manifest.
const (
	KindOnlineStore    = "online_store"
	KindOfflineStore   = "offline_store"
	KindTransformation = "transformation"
)

// Host function names in ImportModule.
const (
	ImportCapOpen                 = "cap_open"
	ImportCapCall                 = "cap_call"
	ImportCapTake                 = "cap_take"
	ImportLog                     = "log"
	ImportNowUnixMicros           = "now_unix_micros"
	ImportDeadlineRemainingMicros = "deadline_remaining_micros"
)

// Capability kinds and their operations.
const (
	CapSQL = "sql"

	SQLOpQuery uint32 = 1
	SQLOpExec  uint32 = 2
	SQLOpDDL   uint32 = 3
)

// Phases an export call runs in; grants are scoped to phases.
const (
	PhaseInit     = "init"
	PhaseServe    = "serve"
	PhaseApply    = "apply"
	PhaseTeardown = "teardown"
)

// Log levels for the log host function.
const (
	LogDebug uint32 = 0
	LogInfo  uint32 = 1
	LogWarn  uint32 = 2
	LogError uint32 = 3
)

// Reserved column names (spec §5.4 and §8).
const (
	ColEventTS   = "__event_ts"
	ColCreatedTS = "__created_ts"
	ColStatus    = "__status"
	ColEntityKey = "__entity_key"
	ColView      = "__view"
	ColValue     = "value"
)

// Status is the fixed status code enum returned by exports (spec §4).
type Status int32

const (
	StatusOK                   Status = 0
	StatusNotFound             Status = 1
	StatusBadArgument          Status = 2
	StatusSerializationFailure Status = 3
	StatusPermissionDenied     Status = 4
	StatusUnavailable          Status = 5
	StatusDeadlineExceeded     Status = 6
	StatusResourceExhausted    Status = 7
	StatusConflict             Status = 8
	StatusUnimplemented        Status = 9
	StatusInternal             Status = 10
)

var statusNames = [...]string{
	"OK", "NOT_FOUND", "BAD_ARGUMENT", "SERIALIZATION_FAILURE", "PERMISSION_DENIED",
	"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "CONFLICT", "UNIMPLEMENTED", "INTERNAL",
}

func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("STATUS(%d)", int32(s))
}

// Sentinel errors, one per non-OK status, so callers can use errors.Is.
var (
	ErrNotFound             = errors.New("not found")
	ErrBadArgument          = errors.New("bad argument")
	ErrSerializationFailure = errors.New("serialization failure")
	ErrPermissionDenied     = errors.New("permission denied")
	ErrUnavailable          = errors.New("unavailable")
	ErrDeadlineExceeded     = errors.New("deadline exceeded")
	ErrResourceExhausted    = errors.New("resource exhausted")
	ErrConflict             = errors.New("conflict")
	ErrUnimplemented        = errors.New("unimplemented")
	ErrInternal             = errors.New("internal plugin error")
)

var statusErrs = [...]error{
	nil, ErrNotFound, ErrBadArgument, ErrSerializationFailure, ErrPermissionDenied,
	ErrUnavailable, ErrDeadlineExceeded, ErrResourceExhausted, ErrConflict, ErrUnimplemented, ErrInternal,
}

// Err returns the sentinel error of a status (nil for OK); unknown codes map to ErrInternal.
func (s Status) Err() error {
	if s >= 0 && int(s) < len(statusErrs) {
		return statusErrs[s]
	}
	return ErrInternal
}

// StatusOf maps an error back to its status: the first sentinel it wraps, else INTERNAL.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	for i := 1; i < len(statusErrs); i++ {
		if errors.Is(err, statusErrs[i]) {
			return Status(i)
		}
	}
	return StatusInternal
}

// PackRegion packs a (ptr, len) pair into the u64 returned by region exports.
func PackRegion(ptr, length uint32) uint64 { return uint64(ptr)<<32 | uint64(length) }

// UnpackRegion splits a packed region into (ptr, len).
func UnpackRegion(r uint64) (ptr, length uint32) { return uint32(r >> 32), uint32(r) }

// FieldStatus is Feast's per-value status (spec §5.5).
type FieldStatus uint8

const (
	FieldInvalid       FieldStatus = 0
	FieldPresent       FieldStatus = 1
	FieldNullValue     FieldStatus = 2
	FieldNotFound      FieldStatus = 3
	FieldOutsideMaxAge FieldStatus = 4
)

var fieldStatusNames = [...]string{"INVALID", "PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"}

func (f FieldStatus) String() string {
	if int(f) < len(fieldStatusNames) {
		return fieldStatusNames[f]
	}
	return fmt.Sprintf("FIELD_STATUS(%d)", f)
}

// Type is a column type id; equal to Feast's ValueType number where one exists (spec §5.3).
type Type uint16

const (
	TypeBytes             Type = 1
	TypeString            Type = 2
	TypeInt32             Type = 3
	TypeInt64             Type = 4
	TypeDouble            Type = 5
	TypeFloat             Type = 6
	TypeBool              Type = 7
	TypeUnixTimestamp     Type = 8
	TypeBytesList         Type = 11
	TypeStringList        Type = 12
	TypeInt32List         Type = 13
	TypeInt64List         Type = 14
	TypeDoubleList        Type = 15
	TypeFloatList         Type = 16
	TypeBoolList          Type = 17
	TypeUnixTimestampList Type = 18
	TypeNull              Type = 19
	TypeStatus            Type = 64
)

var typeNames = map[Type]string{
	TypeBytes: "BYTES", TypeString: "STRING", TypeInt32: "INT32", TypeInt64: "INT64",
	TypeDouble: "DOUBLE", TypeFloat: "FLOAT", TypeBool: "BOOL", TypeUnixTimestamp: "UNIX_TIMESTAMP",
	TypeBytesList: "BYTES_LIST", TypeStringList: "STRING_LIST", TypeInt32List: "INT32_LIST",
	TypeInt64List: "INT64_LIST", TypeDoubleList: "DOUBLE_LIST", TypeFloatList: "FLOAT_LIST",
	TypeBoolList: "BOOL_LIST", TypeUnixTimestampList: "UNIX_TIMESTAMP_LIST", TypeNull: "NULL",
	TypeStatus: "STATUS",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("TYPE(%d)", uint16(t))
}

// ParseType returns the type named n (as in String), or false.
func ParseType(n string) (Type, bool) {
	for t, name := range typeNames {
		if name == n {
			return t, true
		}
	}
	return 0, false
}

// Valid reports whether t is a type id this version knows.
func (t Type) Valid() bool { _, ok := typeNames[t]; return ok }

// IsList reports whether t is one of the *_LIST types.
func (t Type) IsList() bool { return t >= TypeBytesList && t <= TypeUnixTimestampList }

// Elem returns the element type of a list type (e.g. INT64 for INT64_LIST).
func (t Type) Elem() Type {
	if t.IsList() {
		return t - 10
	}
	return t
}
