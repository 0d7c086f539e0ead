// Package feast holds Feast's byte and text formats, so that Larder reads and writes
// exactly what Feast's Python SDK and feature server do:
//
//   - Value (feast.types.Value) with MarshalValue / UnmarshalValue, hand-encoded with
//     protowire: the bytes every online store holds per feature.
//   - ValueType, Feast's type enum, whose numbers are also the Value oneof field numbers.
//   - Entity-key serialization (SerializeEntityKey, v3 and the legacy v2/v1), the bytes
//     every online store keys rows by, and the EntityKey protobuf message.
//   - Timestamp (google.protobuf.Timestamp) encode/decode, as Redis stores "_ts:view".
//   - The HTTP feature server's JSON: AppendValueJSON renders a Value the way Feast's
//     /get-online-features does (Python float repr, base64 bytes, epoch-second
//     timestamps), FormatTimestamp renders event timestamps, and ValueFromJSON /
//     ValuesFromJSON turn request JSON into Values with Feast's coercions and inference.
//
// Package murmur3 next to this one has the hashes Feast's Redis and DynamoDB layouts use.
//
// The formats come from recorded facts about Feast (field numbers, layouts), not
// from Feast's .proto files or code. testdata/python_vectors.json holds what Feast 0.67.0
// itself produced for a set of inputs (see testdata/gen_python_vectors.py); the tests
// compare against it byte for byte. Where Larder deliberately differs from Feast (JSON
// coercion of 1.5 to an integer, base64 for BYTES, RFC 3339 strings for timestamps,
// sorted map keys), the function comments say so.
package feast
