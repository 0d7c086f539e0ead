// Package offlineengine executes offline-store query plans (ABI spec §9) on embedded
// DuckDB and streams their rows in batches.
//
// A plan comes from an untrusted plugin, so DecodePlan validates it and Execute runs it on
// a fresh in-memory database that can read only the files the host grants (the request's
// source paths) and its own spill directory (a fresh 0700 directory per database, removed
// on close, never DuckDB's default ./.tmp): external access off, extension install/load
// off, time zone UTC, and the configuration locked before the plan's SQL is even prepared. Before the first row is
// read, the prepared statement must be a single SELECT whose column names and engine types
// match the plan's result schema exactly, so a plugin cannot smuggle in other statements,
// and the host never has to guess how to convert a value.
//
// Rows reach the caller as Go values of the schema's types (see Batch); converting them to
// Feast Values and writing them to an online store is the host's job, not this package's.
package offlineengine
