// Package pit is the reference point-in-time join (ABI spec §9.6, Feast's historical
// retrieval semantics) in plain Go: slow, obvious, and the yardstick that offline store
// plans are compared with row for row.
//
// It is its own package, with no dependency beyond the standard library, so a plugin's
// tests can use it without building the host.
package pit
