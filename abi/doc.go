// Package abi is the wire contract between the Larder host and its Wasm plugins:
// the ABI version, export and import names, status codes, and the LBF1 batch codec.
//
// It imports only the Go standard library and builds for GOOS=wasip1, so the host,
// the Go SDK and the conformance suite all share one implementation of the format.
// The normative description is spec/v1/README.md.
package abi
