package host

import "github.com/larder-dev/larder/host/internal/fault"

// Fault sentinels: every error from a plugin call or load wraps one of them, or an abi
// status sentinel (abi.ErrNotFound, abi.ErrUnavailable ...) through *PluginStatusError
// when the plugin answered with a non-OK status. Test with errors.Is.
var (
	ErrTrap           = fault.ErrTrap           // unreachable, out-of-bounds, stack overflow, Go panic or exit
	ErrDeadline       = fault.ErrDeadline       // the call outlived its deadline and was terminated
	ErrCanceled       = fault.ErrCanceled       // the caller canceled the call
	ErrMemoryLimit    = fault.ErrMemoryLimit    // the plugin ran into its memory cap
	ErrBadOutput      = fault.ErrBadOutput      // invalid region, invalid LBF1 batch or wrong response shape
	ErrOutputTooLarge = fault.ErrOutputTooLarge // output over Limits.MaxOutputBytes
	ErrABIVersion     = fault.ErrABIVersion     // no or unsupported larder_abi_v* marker
	ErrMissingExport  = fault.ErrMissingExport  // a required export is missing or mistyped
	ErrBadModule      = fault.ErrBadModule      // unreadable, too large, invalid or with unknown imports
	ErrDigestMismatch = fault.ErrDigest         // the module's sha256 differs from the configured one
	ErrBadManifest    = fault.ErrBadManifest    // larder_describe returned an invalid manifest or wrong kind
	ErrUnhealthy      = fault.ErrUnhealthy      // the crash-loop breaker is open: failing fast
	ErrPoolExhausted  = fault.ErrPoolExhausted  // no instance became free before the deadline (also wraps abi.ErrResourceExhausted)
	ErrPluginClosed   = fault.ErrClosed         // the plugin was closed
)

// PluginFault is the error type of faults: which plugin, which export, what happened,
// and the tail of what the plugin printed during the call.
type PluginFault = fault.Error

// PluginStatusError is a non-OK status returned by a plugin (not a fault: the instance
// stays in service). It unwraps to the abi sentinel of the status and carries the
// plugin's larder_last_error message.
type PluginStatusError = fault.StatusError

// Fault classes returned by FaultClass.
const (
	FaultTrap           = fault.ClassTrap
	FaultDeadline       = fault.ClassDeadline
	FaultCanceled       = fault.ClassCanceled
	FaultMemoryLimit    = fault.ClassMemoryLimit
	FaultBadOutput      = fault.ClassBadOutput
	FaultOutputTooLarge = fault.ClassOutputTooLarge
	FaultABIVersion     = fault.ClassABIVersion
	FaultMissingExport  = fault.ClassMissingExport
	FaultBadModule      = fault.ClassBadModule
	FaultDigestMismatch = fault.ClassDigest
	FaultBadManifest    = fault.ClassBadManifest
	FaultUnhealthy      = fault.ClassUnhealthy
	FaultPoolExhausted  = fault.ClassPoolExhausted
	FaultClosed         = fault.ClassClosed
	FaultStatus         = fault.ClassStatus
	FaultOther          = fault.ClassOther
)

// FaultClass names the class of a plugin error: "" for nil, "trap", "deadline",
// "canceled", "memory_limit", "bad_output", "output_too_large", "abi_version",
// "missing_export", "bad_module", "digest_mismatch", "bad_manifest", "unhealthy",
// "pool_exhausted", "closed", "status" (a non-OK plugin status) or "other".
func FaultClass(err error) string { return fault.Class(err) }

// IsFault reports whether err is a fault that discarded the plugin instance (trap,
// deadline, canceled, memory_limit, bad_output, output_too_large).
func IsFault(err error) bool { return fault.Discards(err) }
