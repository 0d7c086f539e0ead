package sdktest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
)

// Transformer is a transformation under test: the plugin run natively
// (NativeTransformation) or its .wasm through the real host (WasmTransformation, which is
// a *host.WasmTransformation).
type Transformer interface {
	TransformODFV(ctx context.Context, odfv, function string, outputs []host.OutputField, in *abi.Batch) (*abi.Batch, error)
}

// NativeTransformation runs the transformation registered by the test binary in-process,
// with sdktest as the host: the input is encoded and the output validated exactly as the
// real host does (host.EncodeTransformInput, host.DecodeTransformOutput).
func NativeTransformation(t testing.TB, opts Options) Transformer {
	t.Helper()
	h, err := newNativeHost(t, abi.KindTransformation, opts)
	if err != nil {
		t.Fatalf("sdktest: starting the native transformation: %v", err)
	}
	return &nativeTransform{h: h}
}

type nativeTransform struct{ h *nativeHost }

func (x *nativeTransform) TransformODFV(ctx context.Context, odfv, function string, outputs []host.OutputField, in *abi.Batch) (*abi.Batch, error) {
	if in.Rows == 0 {
		// As the host: no call for an empty batch.
		b := &abi.Batch{Columns: make([]abi.Column, len(outputs))}
		for i, o := range outputs {
			b.Columns[i] = abi.NewColumnBuilder(o.Name, o.Type, 0).Column()
		}
		return b, nil
	}
	req, err := host.EncodeTransformInput(odfv, function, outputs, in)
	if err != nil {
		return nil, err
	}
	out, err := x.h.call(ctx, abi.PhaseServe, abi.ExportTransform, req)
	if err != nil {
		return nil, err
	}
	return host.DecodeTransformOutput(out, outputs, in.Rows)
}

// WasmTransformation loads the transformation module at path through the real host
// (host.LoadTransformation). It is closed at test cleanup.
func WasmTransformation(t testing.TB, path string, opts Options) *host.WasmTransformation {
	t.Helper()
	cfg := host.PluginConfig{Path: path, Config: opts.Config, Limits: opts.Limits,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	x, err := host.LoadTransformation(context.Background(), cfg)
	if err != nil {
		t.Fatalf("sdktest: loading transformation %s: %v", path, err)
	}
	t.Cleanup(func() { x.Close(context.Background()) })
	return x
}
