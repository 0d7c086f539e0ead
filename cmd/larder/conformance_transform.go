package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/larder-dev/larder/conformance"
)

// runTransformConformance runs the transformation suite (conformance.RunTransform) on a
// transformation-kind module. The cases need to know what the module reads and declares:
// specPath names a spec file (conformance/README.md), else the spec embedded for the
// module's manifest id (the first-party examples) is used; without either, the run is
// one SKIP saying what to pass.
func runTransformConformance(ctx context.Context, path, specPath string, info *conformance.PluginInfo, opts conformance.Options,
	wasm conformance.WasmOptions, stdout io.Writer, show func(conformance.CaseResult)) (conformance.Report, error) {
	var spec conformance.TransformSpec
	found := false
	if specPath != "" {
		s, err := conformance.LoadTransformSpec(specPath)
		if err != nil {
			return conformance.Report{}, err
		}
		spec, found = s, true
	} else {
		spec, found = conformance.KnownTransformSpec(info.ID)
	}
	target := conformance.WasmTransformTarget(path, spec, wasm)
	target.Name += " (kind transformation)"
	if !found {
		target.Open = nil
	}
	(&conformance.Report{Target: target.Name, Plugin: info}).WriteHeader(stdout)
	start := time.Now()
	rep := conformance.RunTransform(ctx, target, opts)
	if !found {
		c := conformance.CaseResult{Suite: "transformation", Group: "spec", Name: "spec", Status: conformance.Skip,
			Message: fmt.Sprintf("no transformation spec for plugin id %q: pass --transform-spec FILE naming its inputs, outputs and examples (conformance/README.md)", info.ID)}
		show(c)
		rep.Cases = append([]conformance.CaseResult{c}, rep.Cases...)
		rep.Summary.Skipped++
		rep.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	}
	return rep, nil
}
