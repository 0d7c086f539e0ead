package conformance

import "github.com/larder-dev/larder/host"

// faultClass names the kind of error a store call ended in: "" for none, "status" for a
// non-OK plugin status, a sandbox fault class, or "other" (e.g. a native store's error).
func faultClass(err error) string { return host.FaultClass(err) }
