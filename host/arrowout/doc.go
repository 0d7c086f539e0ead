// Package arrowout turns the offline engine's result batches into Apache Arrow records
// and writes them out, as Parquet files (historical retrieval's training data) or Arrow
// IPC streams. Rows go through one builder a batch at a time, so a result of any size
// needs memory for one record only.
package arrowout
