package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/sdk-go/internal/hostlink"
)

// Version is this SDK's version, reported in every manifest as "sdk-go/<Version>".
const Version = "0.1.0"

// CapSQL is the kind of the SQL capability (spec §6.1).
const CapSQL = abi.CapSQL

// Plugin describes a plugin in its manifest (spec §3.2).
type Plugin struct {
	ID           string          // [a-z0-9_-]+
	Version      string          // the plugin's own version
	Capabilities []Capability    // host resources the plugin asks for; the operator grants them
	ConfigSchema json.RawMessage // optional JSON Schema of the larder_init object
	Features     []string        // optional, informational
}

// Capability is one requested host resource.
type Capability struct {
	Kind   string   `json:"kind"`   // e.g. CapSQL
	Name   string   `json:"name"`   // the name the operator binds, e.g. "online"
	Phases []string `json:"phases"` // abi.PhaseServe, abi.PhaseApply, abi.PhaseTeardown, abi.PhaseInit
}

type manifest struct {
	ID           string          `json:"id"`
	Kind         string          `json:"kind"`
	Version      string          `json:"version"`
	SDK          string          `json:"sdk"`
	Capabilities []Capability    `json:"capabilities"`
	ConfigSchema json.RawMessage `json:"config_schema,omitempty"`
	Features     []string        `json:"features"`
}

// registration is the one plugin this binary provides.
var registration struct {
	kind       string
	manifest   []byte
	err        error // a registration mistake, reported by every export call
	newOnline  func() OnlineStore
	newOffline func() OfflineStore
	// newTransform is set by RegisterTransformation.
	newTransform func() Transformation
}

// validID reports whether id matches [a-z0-9_-]+ (no regexp: it would grow every plugin binary).
func validID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// RegisterOnlineStore registers the plugin as an online store. Call it exactly once, from
// an init function. newStore is called once per plugin instance (in Wasm, once per module
// instance; under sdktest, once per test store), so state kept in the store is per instance.
func RegisterOnlineStore(p Plugin, newStore func() OnlineStore) {
	if newStore == nil {
		register(p, abi.KindOnlineStore, fmt.Errorf("RegisterOnlineStore: newStore is nil"))
		return
	}
	register(p, abi.KindOnlineStore, nil)
	registration.newOnline = newStore
}

func register(p Plugin, kind string, err error) {
	if registration.kind != "" {
		registration.err = fmt.Errorf("plugin registered twice (first as %s, then as %s); register exactly one plugin per module", registration.kind, kind)
		return
	}
	registration.kind = kind
	if err == nil {
		err = validatePlugin(p)
	}
	registration.err = err
	m := manifest{ID: p.ID, Kind: kind, Version: p.Version, SDK: "sdk-go/" + Version,
		Capabilities: p.Capabilities, ConfigSchema: p.ConfigSchema, Features: p.Features}
	if m.Capabilities == nil {
		m.Capabilities = []Capability{}
	}
	if m.Features == nil {
		m.Features = []string{}
	}
	b, jerr := json.Marshal(m)
	if jerr != nil && registration.err == nil {
		registration.err = fmt.Errorf("encoding the manifest of plugin %q: %v", p.ID, jerr)
	}
	registration.manifest = b
}

func validatePlugin(p Plugin) error {
	if !validID(p.ID) {
		return fmt.Errorf("plugin id %q must match [a-z0-9_-]+", p.ID)
	}
	if p.Version == "" {
		return fmt.Errorf("plugin %q has no version", p.ID)
	}
	seen := map[string]bool{}
	for i, c := range p.Capabilities {
		if c.Kind == "" || c.Name == "" {
			return fmt.Errorf("plugin %q: capability %d needs a kind and a name", p.ID, i)
		}
		if seen[c.Kind+"/"+c.Name] {
			return fmt.Errorf("plugin %q: capability %s %q requested twice", p.ID, c.Kind, c.Name)
		}
		seen[c.Kind+"/"+c.Name] = true
		for _, ph := range c.Phases {
			switch ph {
			case abi.PhaseInit, abi.PhaseServe, abi.PhaseApply, abi.PhaseTeardown:
			default:
				return fmt.Errorf("plugin %q: capability %s %q: unknown phase %q", p.ID, c.Kind, c.Name, ph)
			}
		}
	}
	if len(p.ConfigSchema) > 0 && !json.Valid(p.ConfigSchema) {
		return fmt.Errorf("plugin %q: config schema is not valid JSON", p.ID)
	}
	return nil
}

func init() {
	hostlink.SetInstanceFactory(func() hostlink.Instance { return newInstance() })
}
