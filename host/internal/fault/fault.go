// Package fault defines the errors a plugin call or load can end in, shared by the
// runtime internals and re-exported by package host.
package fault

import (
	"context"
	"errors"
	"fmt"

	"github.com/larder-dev/larder/abi"
)

// Sentinels, one per fault class. Errors returned by the host wrap exactly one of them
// (or an abi status sentinel through *StatusError), so errors.Is and Class work.
var (
	ErrTrap           = errors.New("plugin trapped")
	ErrDeadline       = errors.New("plugin call exceeded its deadline")
	ErrCanceled       = errors.New("plugin call canceled by the caller")
	ErrMemoryLimit    = errors.New("plugin hit its memory limit")
	ErrBadOutput      = errors.New("plugin returned invalid output")
	ErrOutputTooLarge = errors.New("plugin output exceeds the size limit")
	ErrABIVersion     = errors.New("unsupported plugin ABI version")
	ErrMissingExport  = errors.New("plugin lacks a required export")
	ErrBadModule      = errors.New("invalid plugin module")
	ErrDigest         = errors.New("plugin sha256 mismatch")
	ErrBadManifest    = errors.New("invalid plugin manifest")
	ErrUnhealthy      = errors.New("plugin is unhealthy")
	ErrPoolExhausted  = errors.New("no plugin instance available")
	ErrClosed         = errors.New("plugin is closed")
)

// Class names reported by Class (and by the conformance suite).
const (
	ClassNone           = ""
	ClassTrap           = "trap"
	ClassDeadline       = "deadline"
	ClassCanceled       = "canceled"
	ClassMemoryLimit    = "memory_limit"
	ClassBadOutput      = "bad_output"
	ClassOutputTooLarge = "output_too_large"
	ClassABIVersion     = "abi_version"
	ClassMissingExport  = "missing_export"
	ClassBadModule      = "bad_module"
	ClassDigest         = "digest_mismatch"
	ClassBadManifest    = "bad_manifest"
	ClassUnhealthy      = "unhealthy"
	ClassPoolExhausted  = "pool_exhausted"
	ClassClosed         = "closed"
	ClassStatus         = "status"
	ClassOther          = "other"
)

var classes = []struct {
	err   error
	class string
}{
	{ErrTrap, ClassTrap}, {ErrDeadline, ClassDeadline}, {ErrCanceled, ClassCanceled},
	{ErrMemoryLimit, ClassMemoryLimit}, {ErrBadOutput, ClassBadOutput},
	{ErrOutputTooLarge, ClassOutputTooLarge}, {ErrABIVersion, ClassABIVersion},
	{ErrMissingExport, ClassMissingExport}, {ErrBadModule, ClassBadModule},
	{ErrDigest, ClassDigest}, {ErrBadManifest, ClassBadManifest}, {ErrUnhealthy, ClassUnhealthy},
	{ErrPoolExhausted, ClassPoolExhausted}, {ErrClosed, ClassClosed},
}

// Class returns the fault class of err: "" for nil, "status" for a non-OK plugin status,
// "other" for errors that are none of these (for example a bad request built by the host).
func Class(err error) string {
	if err == nil {
		return ClassNone
	}
	for _, c := range classes {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	var se *StatusError
	if errors.As(err, &se) {
		return ClassStatus
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ClassDeadline
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	}
	return ClassOther
}

// Discards reports whether a call that ended in err must discard its instance.
func Discards(err error) bool {
	switch Class(err) {
	case ClassTrap, ClassDeadline, ClassCanceled, ClassMemoryLimit, ClassBadOutput, ClassOutputTooLarge:
		return true
	}
	return false
}

// Error is a fault of one call or load: which plugin, which export, what happened.
type Error struct {
	Plugin string // plugin id or path
	Export string // export being called, "" at load time
	Kind   error  // one of the sentinels above
	Detail string // what exactly went wrong
	Log    string // tail of what the plugin logged during the call, if any
	Cause  error  // underlying error, may be nil
}

func (e *Error) Error() string {
	s := "plugin " + e.Plugin
	if e.Export != "" {
		s += ": " + e.Export
	}
	s += ": " + e.Kind.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Log != "" {
		s += " (plugin output: " + e.Log + ")"
	}
	return s
}

// Unwrap exposes both the class sentinel and the underlying cause to errors.Is/As.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// New builds an *Error.
func New(plugin, export string, kind error, cause error, format string, args ...any) *Error {
	return &Error{Plugin: plugin, Export: export, Kind: kind, Cause: cause, Detail: fmt.Sprintf(format, args...)}
}

// Output returns a bad-output fault raised while consuming a plugin's result; the
// runtime fills in the plugin and export.
func Output(format string, args ...any) *Error {
	return &Error{Kind: ErrBadOutput, Detail: fmt.Sprintf(format, args...)}
}

// StatusError is a non-OK status returned by a plugin export: not a fault, the instance
// stays in service. It wraps the abi status sentinel (abi.ErrNotFound ...).
type StatusError struct {
	Plugin  string
	Export  string
	Status  abi.Status
	Message string // from larder_last_error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("plugin %s: %s returned %s", e.Plugin, e.Export, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func (e *StatusError) Unwrap() error { return e.Status.Err() }
