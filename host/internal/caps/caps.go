// Package caps is the capability framework: the resources an operator granted to a
// plugin, the phases each grant is valid in, and the sessions instances open on them.
// It knows nothing about Wasm; the runtime's host functions dispatch into it.
package caps

import (
	"context"
	"fmt"
	"strings"

	"github.com/larder-dev/larder/abi"
)

// Phase is the phase an export call runs in (spec §6).
type Phase uint8

const (
	PhaseInit Phase = iota
	PhaseServe
	PhaseApply
	PhaseTeardown
	numPhases
)

var phaseNames = [numPhases]string{abi.PhaseInit, abi.PhaseServe, abi.PhaseApply, abi.PhaseTeardown}

func (p Phase) String() string {
	if p < numPhases {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// ParsePhase returns the phase called s.
func ParsePhase(s string) (Phase, bool) {
	for i, n := range phaseNames {
		if n == s {
			return Phase(i), true
		}
	}
	return 0, false
}

// AllowsDDL reports whether schema changes are allowed in p: only apply and teardown.
func (p Phase) AllowsDDL() bool { return p == PhaseApply || p == PhaseTeardown }

// PhaseSet is a set of phases.
type PhaseSet uint8

// Has reports whether p is in the set.
func (s PhaseSet) Has(p Phase) bool { return s&(1<<p) != 0 }

// With returns the set plus p.
func (s PhaseSet) With(p Phase) PhaseSet { return s | 1<<p }

// AllPhases is every phase.
const AllPhases PhaseSet = 1<<numPhases - 1

// ParsePhases parses phase names; an empty list means every phase.
func ParsePhases(names []string) (PhaseSet, error) {
	if len(names) == 0 {
		return AllPhases, nil
	}
	var s PhaseSet
	for _, n := range names {
		p, ok := ParsePhase(n)
		if !ok {
			return 0, fmt.Errorf("unknown phase %q (want one of %s)", n, strings.Join(phaseNames[:], ", "))
		}
		s = s.With(p)
	}
	return s, nil
}

func (s PhaseSet) String() string {
	var out []string
	for p := Phase(0); p < numPhases; p++ {
		if s.Has(p) {
			out = append(out, p.String())
		}
	}
	return strings.Join(out, ",")
}

// Session is one instance's open handle on a granted resource. A session is used by
// one goroutine at a time (its instance's), so it may keep connections and caches.
type Session interface {
	// Call runs op on the resource. On success it returns the response, valid until the
	// next Call; otherwise a non-OK status and a UTF-8 message as the response.
	Call(ctx context.Context, op uint32, phase Phase, req []byte) ([]byte, abi.Status)
	Close() error
}

// Provider is a granted resource shared by all instances of a plugin.
type Provider interface {
	Open() (Session, error)
	Close() error
}

// Binding is one grant: a named resource of a kind, the phases it may be used in, and
// the provider that implements it.
type Binding struct {
	Kind     string
	Name     string
	Phases   PhaseSet
	Provider Provider
}

// Set is the grants of one plugin.
type Set struct {
	bindings []*Binding
}

// NewSet builds a grant set, refusing duplicate (kind, name) pairs.
func NewSet(bindings []*Binding) (*Set, error) {
	s := &Set{}
	for _, b := range bindings {
		if s.Lookup(b.Kind, b.Name) != nil {
			return nil, fmt.Errorf("capability %s/%s is granted twice", b.Kind, b.Name)
		}
		s.bindings = append(s.bindings, b)
	}
	return s, nil
}

// Lookup returns the grant of (kind, name), or nil when it was not granted.
func (s *Set) Lookup(kind, name string) *Binding {
	if s == nil {
		return nil
	}
	for _, b := range s.bindings {
		if b.Kind == kind && b.Name == name {
			return b
		}
	}
	return nil
}

// Bindings returns every grant.
func (s *Set) Bindings() []*Binding {
	if s == nil {
		return nil
	}
	return s.bindings
}

// Close closes every provider.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	var first error
	for _, b := range s.bindings {
		if err := b.Provider.Close(); err != nil && first == nil {
			first = fmt.Errorf("closing capability %s/%s: %w", b.Kind, b.Name, err)
		}
	}
	return first
}
