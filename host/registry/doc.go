// Package registry reads and writes Feast's registry: the feast.core.Registry protobuf
// message that `feast apply` stores in registry.db (file registry, no framing). A
// registry.db written by Feast loads here, and one saved here loads in Feast.
//
// The message is hand-encoded with protowire using Feast's field numbers; no .proto
// files are involved. The Go structs model what Larder serves — projects, entities,
// feature views (with materialization intervals), stream and label views, on-demand
// feature views, feature services and their projections, data sources (file, push,
// request, custom) — and every message keeps the fields it does not model, so nothing a
// newer Feast wrote is lost on a load/save cycle. Marshal writes what Python's protobuf
// writes with deterministic=True (fields in number order, map entries sorted by key);
// for the Feast 0.67.0 fixture in testdata the bytes are identical.
//
// FileStore loads a registry file and saves it atomically (temporary file, fsync,
// rename), stamping version_id and last_updated as Feast does on every commit.
package registry
