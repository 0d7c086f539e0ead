package wasm

import (
	"strings"

	"github.com/larder-dev/larder/abi"
	"github.com/tetratelabs/wazero/api"
)

// Export identifies an export whose api.Function handle every instance caches, so the
// hot path never calls Module.ExportedFunction (each call of it allocates a call engine).
type Export uint8

const (
	ExpAlloc Export = iota
	ExpFree
	ExpDescribe
	ExpInit
	ExpLastError
	ExpResult
	ExpOnlineUpdate
	ExpOnlineTeardown
	ExpOnlineWrite
	ExpOnlineRead
	ExpOfflinePlanPullLatest
	ExpOfflinePlanHistorical // optional (spec §9.6)
	ExpOfflinePlanPullAll    // optional (spec §9.8)
	ExpOfflinePlanWrite      // optional (spec §9.7)
	ExpTransform
	numExports
)

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

type signature struct {
	params, results []api.ValueType
}

func (s signature) String() string { return sigString(s.params, s.results) }

func sigString(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		parts := make([]string, len(ts))
		for i, t := range ts {
			parts[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(parts, ",") + ")"
	}
	return name(params) + "->" + name(results)
}

func (s signature) matches(def api.FunctionDefinition) bool {
	return equalTypes(def.ParamTypes(), s.params) && equalTypes(def.ResultTypes(), s.results)
}

func equalTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var (
	sigPtrLenStatus = signature{[]api.ValueType{i32, i32}, []api.ValueType{i32}}
	sigRegion       = signature{nil, []api.ValueType{i64}}
	sigMarker       = signature{}
)

var exportTable = [numExports]struct {
	name string
	sig  signature
}{
	ExpAlloc:          {abi.ExportAlloc, signature{[]api.ValueType{i32}, []api.ValueType{i32}}},
	ExpFree:           {abi.ExportFree, signature{[]api.ValueType{i32, i32}, nil}},
	ExpDescribe:       {abi.ExportDescribe, sigRegion},
	ExpInit:           {abi.ExportInit, sigPtrLenStatus},
	ExpLastError:      {abi.ExportLastError, sigRegion},
	ExpResult:         {abi.ExportResult, sigRegion},
	ExpOnlineUpdate:   {abi.ExportOnlineUpdate, sigPtrLenStatus},
	ExpOnlineTeardown: {abi.ExportOnlineTeardown, sigPtrLenStatus},
	ExpOnlineWrite:    {abi.ExportOnlineWrite, sigPtrLenStatus},
	ExpOnlineRead:     {abi.ExportOnlineRead, sigPtrLenStatus},
	// Offline store kind (spec §9).
	ExpOfflinePlanPullLatest: {abi.ExportOfflinePlanPullLatest, sigPtrLenStatus},
	ExpOfflinePlanHistorical: {abi.ExportOfflinePlanHistorical, sigPtrLenStatus},
	ExpOfflinePlanPullAll:    {abi.ExportOfflinePlanPullAll, sigPtrLenStatus},
	ExpOfflinePlanWrite:      {abi.ExportOfflinePlanWrite, sigPtrLenStatus},
	// Transformation kind (spec §10).
	ExpTransform: {abi.ExportTransform, sigPtrLenStatus},
}

// Name returns the export's name in the module.
func (e Export) Name() string { return exportTable[e].name }

// commonExports every plugin must have; kindExports by manifest kind.
var (
	commonExports = []Export{ExpAlloc, ExpFree, ExpDescribe, ExpInit, ExpLastError}
	kindExports   = map[string][]Export{
		abi.KindOnlineStore:    {ExpResult, ExpOnlineUpdate, ExpOnlineTeardown, ExpOnlineWrite, ExpOnlineRead},
		abi.KindOfflineStore:   {ExpResult, ExpOfflinePlanPullLatest},
		abi.KindTransformation: {ExpResult, ExpTransform},
	}
)

// Host functions of abi.ImportModule and their types; also used to validate imports.
var hostFuncSigs = map[string]signature{
	abi.ImportCapOpen:                 {[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	abi.ImportCapCall:                 {[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i64}},
	abi.ImportCapTake:                 {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.ImportLog:                     {[]api.ValueType{i32, i32, i32}, nil},
	abi.ImportNowUnixMicros:           {nil, []api.ValueType{i64}},
	abi.ImportDeadlineRemainingMicros: {nil, []api.ValueType{i64}},
}
