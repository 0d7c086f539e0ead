// Package nativestore holds plain-Go counterparts of plugin-side things, for benchmarks and
// test harnesses, never for serving:
//
//   - SQLite, Feast's SQLite online-store layout implemented directly on database/sql and
//     mattn/go-sqlite3: the "native" side of BenchmarkOnlineRead/{native,wasm} and the
//     reference the sqlite plugin is cross-checked against (data written by one is read
//     by the other). It runs the same statements as plugins/sqlite.
//   - SQLCapability, the host's sql capability as an in-process object, so sdk-go/sdktest
//     can run plugin code natively with exactly the semantics the Wasm host gives it.
package nativestore
