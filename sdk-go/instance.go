package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/sdk-go/internal/hostlink"
)

// instance is the state behind one plugin instance's exports: the plugin value and every
// buffer the SDK reuses from call to call.
type instance struct {
	online      OnlineStore
	offline     OfflineStore
	transform   *transformState
	initialized bool
	lastErr     []byte
	result      []byte

	wb    WriteBatch
	rb    ReadBatch
	resp  ReadResponse
	wmeta metaCache[writeMeta]
	rmeta metaCache[readMeta]
}

func newInstance() *instance { return &instance{} }

func (in *instance) Describe() []byte { return registration.manifest }

func (in *instance) Result() []byte { return in.result }

func (in *instance) LastError() []byte { return in.lastErr }

// Call runs one export. Capability response buffers are recycled when it returns, which is
// why slices handed to plugin code are valid only during the call.
func (in *instance) Call(export string, input []byte) abi.Status {
	in.result = in.result[:0]
	err := in.call(export, input)
	releaseCallBuffers()
	if err == nil {
		return abi.StatusOK
	}
	st, msg := errorStatus(err)
	in.lastErr = append(in.lastErr[:0], msg...)
	return st
}

func (in *instance) call(export string, input []byte) error {
	if registration.err != nil {
		return Errorf(abi.ErrInternal, "plugin registration: %v", registration.err)
	}
	if registration.kind == "" {
		return Errorf(abi.ErrInternal, "no plugin registered: call sdk.RegisterOnlineStore (or another Register function) from an init function")
	}
	if export == abi.ExportInit {
		return in.init(input)
	}
	if !in.initialized {
		return Errorf(abi.ErrInternal, "%s called before larder_init succeeded", export)
	}
	switch export {
	case abi.ExportTransform:
		return in.callTransform(input)
	case abi.ExportOfflinePlanPullLatest, abi.ExportOfflinePlanHistorical:
		return in.callOffline(export, input)
	case abi.ExportOfflinePlanPullAll, abi.ExportOfflinePlanWrite:
		return in.callOfflineOptional(export, input) // offline_write.go
	case abi.ExportOnlineUpdate, abi.ExportOnlineTeardown, abi.ExportOnlineWrite, abi.ExportOnlineRead:
		if in.online == nil {
			return Errorf(abi.ErrUnimplemented, "%s: this plugin is a %s, not an online store", export, registration.kind)
		}
	default:
		return Errorf(abi.ErrUnimplemented, "unknown export %s", export)
	}
	switch export {
	case abi.ExportOnlineUpdate, abi.ExportOnlineTeardown:
		var req UpdateRequest
		if err := json.Unmarshal(input, &req); err != nil {
			return Errorf(abi.ErrBadArgument, "%s: decoding the request JSON: %v", export, err)
		}
		if export == abi.ExportOnlineUpdate {
			return in.online.Update(req)
		}
		return in.online.Teardown(req)
	case abi.ExportOnlineWrite:
		b, err := abi.Decode(input)
		if err != nil {
			return fmt.Errorf("%s: %w", export, err)
		}
		m, err := in.wmeta.get(b.Metadata, "write")
		if err != nil {
			return err
		}
		if err := parseWrite(&in.wb, b, m); err != nil {
			return err
		}
		err = in.online.Write(&in.wb)
		in.wb = WriteBatch{values: in.wb.values[:0]}
		return err
	default: // read
		b, err := abi.Decode(input)
		if err != nil {
			return fmt.Errorf("%s: %w", export, err)
		}
		m, err := in.rmeta.get(b.Metadata, "read")
		if err != nil {
			return err
		}
		if err := parseRead(&in.rb, b, m); err != nil {
			return err
		}
		in.resp.reset(&in.rb)
		if err := in.online.Read(&in.rb, &in.resp); err != nil {
			return err
		}
		in.result = in.resp.encode(in.result)
		in.rb = ReadBatch{runs: in.rb.runs[:0]}
		return nil
	}
}

func (in *instance) init(config []byte) error {
	if len(config) == 0 {
		config = []byte("{}")
	}
	if !json.Valid(config) {
		return Errorf(abi.ErrBadArgument, "plugin config is not valid JSON")
	}
	switch registration.kind {
	case abi.KindOnlineStore:
		if in.online == nil {
			in.online = registration.newOnline()
		}
		if err := in.online.Init(config); err != nil {
			return err
		}
	case abi.KindTransformation:
		if err := in.initTransform(config); err != nil {
			return err
		}
	case abi.KindOfflineStore:
		if in.offline == nil {
			in.offline = registration.newOffline()
		}
		if err := in.offline.Init(config); err != nil {
			return err
		}
	}
	in.initialized = true
	return nil
}

var _ hostlink.Instance = (*instance)(nil)
