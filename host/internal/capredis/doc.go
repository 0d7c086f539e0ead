// Package capredis implements the `redis` capability (ABI spec §6.2): one PIPELINE
// operation that runs a batch of allow-listed hash and key commands (HMGET, HGETALL, HSET,
// HDEL, DEL, EXPIRE, PEXPIREAT, EXISTS, SCAN) on a single Redis server, a Redis Cluster or
// a Sentinel-managed master, through go-redis.
//
// Requests and responses use the compact binary format of package abi (LRQ1/LRR1), so an
// online read of many entities is one copy in, one Redis round trip and one copy out.
// The plugin never sees the connection string; the grant may confine it to a key
// namespace, which the host prepends to every key transparently. Commands that run code
// or change the server (EVAL, CONFIG, FLUSH*, KEYS…) cannot be expressed at all.
//
// Errors: a connection that is refused, reset or times out, and the server's LOADING,
// CLUSTERDOWN, READONLY… replies fail the whole call with UNAVAILABLE; an error reply
// that concerns one command (WRONGTYPE) is that command's ERROR reply.
package capredis
