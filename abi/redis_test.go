package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRedisRequestRoundTrip(t *testing.T) {
	cmds := []RedisCommand{
		{RedisHMGET, [][]byte{[]byte("k\x00\xff"), {1, 2, 3, 4}, []byte("_ts:v")}},
		{RedisHGETALL, [][]byte{{}}},
		{RedisHSET, [][]byte{[]byte("k"), []byte("f"), {}, []byte("g"), []byte("v")}},
		{RedisHDEL, [][]byte{[]byte("k"), []byte("f")}},
		{RedisDEL, [][]byte{[]byte("k")}},
		{RedisEXPIRE, [][]byte{[]byte("k"), RedisInt(60)}},
		{RedisPEXPIREAT, [][]byte{[]byte("k"), RedisInt(1_700_000_000_000)}},
		{RedisEXISTS, [][]byte{[]byte("k")}},
		{RedisSCAN, [][]byte{RedisInt(0), RedisInt(100), []byte("pre"), []byte("suf")}},
	}
	b := AppendRedisRequest(nil, cmds)
	got, err := DecodeRedisRequest(b, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cmds) {
		t.Fatalf("round trip:\n got %v\nwant %v", got, cmds)
	}
	// Decoding again into the same slice reuses it and gives the same result.
	got2, err := DecodeRedisRequest(b, got, 100)
	if err != nil || !reflect.DeepEqual(got2, cmds) {
		t.Fatalf("reused decode: %v %v", got2, err)
	}
	if v, ok := RedisIntArg(got[5].Args[1]); !ok || v != 60 {
		t.Fatalf("RedisIntArg = %d %v", v, ok)
	}
	// The layout is the one the spec documents.
	small := AppendRedisRequest(nil, []RedisCommand{{RedisDEL, [][]byte{[]byte("ab")}}})
	want := []byte("LRQ1\x01\x00\x00\x00\x05\x00\x01\x00\x02\x00\x00\x00ab")
	if !bytes.Equal(small, want) {
		t.Fatalf("encoding = %q, want %q", small, want)
	}
}

func TestRedisRequestRejects(t *testing.T) {
	one := func(c RedisCmd, args ...[]byte) []byte { return AppendRedisRequest(nil, []RedisCommand{{c, args}}) }
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "header"},
		{"magic", []byte("XXXX\x01\x00\x00\x00"), "header"},
		{"no commands", []byte("LRQ1\x00\x00\x00\x00"), "no commands"},
		{"too many", []byte("LRQ1\xff\xff\xff\xff"), "limit"},
		{"count beyond input", []byte("LRQ1\x05\x00\x00\x00\x01\x00\x00\x00"), "5 commands"},
		{"unknown command", one(RedisCmd(42), []byte("k")), "unknown command"},
		{"zero command", one(RedisCmd(0), []byte("k")), "unknown command"},
		{"hmget without fields", one(RedisHMGET, []byte("k")), "at least 2"},
		{"hset odd", one(RedisHSET, []byte("k"), []byte("f"), []byte("v"), []byte("g")), "groups of 2"},
		{"del two keys", one(RedisDEL, []byte("a"), []byte("b")), "exactly 1"},
		{"expire short int", one(RedisEXPIRE, []byte("k"), []byte("60")), "8-byte"},
		{"scan short cursor", one(RedisSCAN, []byte{0}, RedisInt(1), nil, nil), "8-byte"},
		{"trailing", append(one(RedisDEL, []byte("k")), 0), "after the last"},
		{"arg too long", func() []byte {
			b := one(RedisDEL, []byte("k"))
			binary.LittleEndian.PutUint32(b[12:], 1<<30)
			return b
		}(), "exceeds"},
		{"reserved byte", func() []byte { b := one(RedisDEL, []byte("k")); b[9] = 1; return b }(), "reserved"},
		{"truncated", one(RedisHSET, []byte("k"), []byte("f"), []byte("v"))[:20], "bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeRedisRequest(c.in, nil, 1000)
			if err == nil || !errors.Is(err, ErrRedisRequest) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestRedisResponseRoundTrip(t *testing.T) {
	b := AppendRedisResponseHeader(nil, 4)
	b = AppendRedisInt(b, -7)
	b = AppendRedisArrayHeader(b, 3)
	b = AppendRedisBulk(b, "v")
	b = AppendRedisNil(b)
	b = AppendRedisInt(b, 9)
	b = AppendRedisError(b, "WRONGTYPE no")
	b = AppendRedisBulk(b, []byte{})
	got, err := DecodeRedisResponse(b, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []RedisReply{
		{Kind: RedisInt64, Int: -7},
		{Kind: RedisArray, Elems: []RedisReply{{Kind: RedisBulk, Bytes: []byte("v")}, {Kind: RedisNil}, {Kind: RedisInt64, Int: 9}}},
		{Kind: RedisError, Bytes: []byte("WRONGTYPE no")},
		{Kind: RedisBulk, Bytes: []byte{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if _, err := DecodeRedisResponse(b, 3); err == nil {
		t.Fatal("a reply count mismatch was accepted")
	}
	nested := AppendRedisArrayHeader(AppendRedisResponseHeader(nil, 1), 1)
	nested = AppendRedisArrayHeader(nested, 0)
	if _, err := DecodeRedisResponse(nested, 1); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("nested array: %v", err)
	}
}

func TestRedisCmdNames(t *testing.T) {
	for _, n := range RedisCmdNames() {
		c, ok := ParseRedisCmd(n)
		if !ok || c.String() != n {
			t.Fatalf("%s: %v %v", n, c, ok)
		}
	}
	if _, ok := ParseRedisCmd("EVAL"); ok {
		t.Fatal("EVAL parsed")
	}
}

func FuzzDecodeRedisRequest(f *testing.F) {
	f.Add(AppendRedisRequest(nil, []RedisCommand{{RedisHMGET, [][]byte{[]byte("k"), []byte("f")}}}))
	f.Add(AppendRedisRequest(nil, []RedisCommand{{RedisSCAN, [][]byte{RedisInt(0), RedisInt(10), nil, []byte("p")}}}))
	f.Add([]byte("LRQ1\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cmds, err := DecodeRedisRequest(b, nil, 1<<16)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		if re := AppendRedisRequest(nil, cmds); !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", re, b)
		}
	})
}

func FuzzDecodeRedisResponse(f *testing.F) {
	b := AppendRedisResponseHeader(nil, 2)
	b = AppendRedisArrayHeader(b, 2)
	b = AppendRedisBulk(b, "x")
	b = AppendRedisNil(b)
	b = AppendRedisError(b, "e")
	f.Add(b, 2)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		_, _ = DecodeRedisResponse(b, n)
	})
}
