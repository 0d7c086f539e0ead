package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The `redis` capability (spec §6.2): one operation, PIPELINE, whose request is a batch of
// allow-listed commands and whose response holds one reply per command. Both are compact
// binary messages ("LRQ1" / "LRR1") so that a read of many entities costs one copy each
// way and no text parsing.

// CapRedis is the kind name of the redis capability.
const CapRedis = "redis"

// RedisOpPipeline runs a batch of commands as one Redis pipeline.
const RedisOpPipeline uint32 = 1

// RedisCmd is a command code of a pipeline request.
type RedisCmd uint8

// Commands a pipeline may hold. Keys are relative to the grant's key namespace.
const (
	RedisHMGET     RedisCmd = 1 // key, field… → ARRAY of BULK|NIL
	RedisHGETALL   RedisCmd = 2 // key → ARRAY field, value, …
	RedisHSET      RedisCmd = 3 // key, (field, value)… → INT fields added
	RedisHDEL      RedisCmd = 4 // key, field… → INT fields removed
	RedisDEL       RedisCmd = 5 // key → INT keys removed
	RedisEXPIRE    RedisCmd = 6 // key, seconds (i64) → INT 1 set, 0 no key
	RedisPEXPIREAT RedisCmd = 7 // key, unix ms (i64) → INT
	RedisEXISTS    RedisCmd = 8 // key → INT
	RedisSCAN      RedisCmd = 9 // cursor (u64), count (i64), prefix, suffix → ARRAY [INT next cursor, BULK key…]
)

var redisCmdNames = [...]string{"", "HMGET", "HGETALL", "HSET", "HDEL", "DEL", "EXPIRE", "PEXPIREAT", "EXISTS", "SCAN"}

// String returns the Redis command name.
func (c RedisCmd) String() string {
	if c >= 1 && int(c) < len(redisCmdNames) {
		return redisCmdNames[c]
	}
	return fmt.Sprintf("REDIS_CMD(%d)", uint8(c))
}

// ParseRedisCmd returns the command named s (upper case, as in Redis).
func ParseRedisCmd(s string) (RedisCmd, bool) {
	for i := 1; i < len(redisCmdNames); i++ {
		if redisCmdNames[i] == s {
			return RedisCmd(i), true
		}
	}
	return 0, false
}

// RedisCmdNames lists every command name, in code order.
func RedisCmdNames() []string { return append([]string(nil), redisCmdNames[1:]...) }

// Arity checks an argument count for c: the minimum and whether more may follow, in
// steps of step arguments.
func (c RedisCmd) arity() (min, step int) {
	switch c {
	case RedisHMGET, RedisHDEL:
		return 2, 1
	case RedisHGETALL, RedisDEL, RedisEXISTS:
		return 1, 0
	case RedisHSET:
		return 3, 2
	case RedisEXPIRE, RedisPEXPIREAT:
		return 2, 0
	case RedisSCAN:
		return 4, 0
	}
	return -1, 0
}

// CheckArgs reports why n arguments are wrong for c, or "" when they are right.
func (c RedisCmd) CheckArgs(n int) string {
	min, step := c.arity()
	switch {
	case min < 0:
		return fmt.Sprintf("unknown command code %d", uint8(c))
	case n < min:
		return fmt.Sprintf("%s takes at least %d arguments, got %d", c, min, n)
	case step == 0 && n != min:
		return fmt.Sprintf("%s takes exactly %d arguments, got %d", c, min, n)
	case step > 0 && (n-min)%step != 0:
		return fmt.Sprintf("%s takes its arguments after the key in groups of %d, got %d", c, step, n-1)
	}
	return ""
}

// RedisCommand is one command of a pipeline request. For EXPIRE and PEXPIREAT the second
// argument is an 8-byte little-endian i64; for SCAN the first is an 8-byte cursor and the
// second an 8-byte count (see RedisInt).
type RedisCommand struct {
	Cmd  RedisCmd
	Args [][]byte
}

// RedisInt encodes an integer argument.
func RedisInt(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// RedisIntArg decodes an integer argument.
func RedisIntArg(b []byte) (int64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(b)), true
}

// Magic numbers of the pipeline request and response.
const (
	RedisRequestMagic  = "LRQ1"
	RedisResponseMagic = "LRR1"
)

// AppendRedisRequest encodes a pipeline request:
//
//	"LRQ1" | u32 N | N × (u8 cmd | u8 0 | u16 argc | argc × (u32 len | bytes))
func AppendRedisRequest(dst []byte, cmds []RedisCommand) []byte {
	dst = append(dst, RedisRequestMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(cmds)))
	for _, c := range cmds {
		dst = append(dst, byte(c.Cmd), 0)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(c.Args)))
		for _, a := range c.Args {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(a)))
			dst = append(dst, a...)
		}
	}
	return dst
}

// ErrRedisRequest is wrapped by every request decoding error.
var ErrRedisRequest = errors.New("malformed redis pipeline request")

// DecodeRedisRequest decodes a request into cmds (reusing its capacity and that of each
// command's Args). Arguments alias b. It checks structure and arity, not limits or
// permissions; maxCommands bounds the command count before anything is allocated.
func DecodeRedisRequest(b []byte, cmds []RedisCommand, maxCommands int) ([]RedisCommand, error) {
	cmds = cmds[:0]
	if len(b) < 8 || string(b[:4]) != RedisRequestMagic {
		return cmds, fmt.Errorf("%w: missing the %q header", ErrRedisRequest, RedisRequestMagic)
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if n == 0 {
		return cmds, fmt.Errorf("%w: no commands", ErrRedisRequest)
	}
	if uint64(n) > uint64(maxCommands) {
		return cmds, fmt.Errorf("%w: %d commands, more than the limit of %d per pipeline", ErrRedisRequest, n, maxCommands)
	}
	// Each command needs at least 4 bytes, so n is also bounded by the input length.
	if uint64(n)*4 > uint64(len(b)-8) {
		return cmds, fmt.Errorf("%w: %d commands in %d bytes", ErrRedisRequest, n, len(b))
	}
	p := b[8:]
	for i := uint32(0); i < n; i++ {
		if len(p) < 4 {
			return cmds, fmt.Errorf("%w: command %d is truncated", ErrRedisRequest, i)
		}
		cmd, argc := RedisCmd(p[0]), int(binary.LittleEndian.Uint16(p[2:]))
		if p[1] != 0 {
			return cmds, fmt.Errorf("%w: command %d: reserved byte is %d, want 0", ErrRedisRequest, i, p[1])
		}
		if why := cmd.CheckArgs(argc); why != "" {
			return cmds, fmt.Errorf("%w: command %d: %s", ErrRedisRequest, i, why)
		}
		p = p[4:]
		if argc*4 > len(p) {
			return cmds, fmt.Errorf("%w: command %d (%s): %d arguments in %d bytes", ErrRedisRequest, i, cmd, argc, len(p))
		}
		var c *RedisCommand
		if len(cmds) < cap(cmds) {
			cmds = cmds[:len(cmds)+1]
			c = &cmds[len(cmds)-1]
			c.Args = c.Args[:0]
		} else {
			cmds = append(cmds, RedisCommand{Args: make([][]byte, 0, argc)})
			c = &cmds[len(cmds)-1]
		}
		c.Cmd = cmd
		for a := 0; a < argc; a++ {
			if len(p) < 4 {
				return cmds, fmt.Errorf("%w: command %d (%s) argument %d is truncated", ErrRedisRequest, i, cmd, a)
			}
			l := binary.LittleEndian.Uint32(p)
			if uint64(l) > uint64(len(p)-4) {
				return cmds, fmt.Errorf("%w: command %d (%s) argument %d: length %d exceeds the %d bytes left",
					ErrRedisRequest, i, cmd, a, l, len(p)-4)
			}
			c.Args = append(c.Args, p[4:4+l:4+l])
			p = p[4+l:]
		}
		switch cmd {
		case RedisEXPIRE, RedisPEXPIREAT:
			if len(c.Args[1]) != 8 {
				return cmds, fmt.Errorf("%w: command %d (%s): the time argument must be an 8-byte integer, got %d bytes", ErrRedisRequest, i, cmd, len(c.Args[1]))
			}
		case RedisSCAN:
			if len(c.Args[0]) != 8 || len(c.Args[1]) != 8 {
				return cmds, fmt.Errorf("%w: command %d (SCAN): cursor and count must be 8-byte integers", ErrRedisRequest, i)
			}
		}
	}
	if len(p) != 0 {
		return cmds, fmt.Errorf("%w: %d bytes after the last command", ErrRedisRequest, len(p))
	}
	return cmds, nil
}

// RedisReplyKind tags a reply.
type RedisReplyKind uint8

const (
	RedisNil   RedisReplyKind = 0 // no payload
	RedisInt64 RedisReplyKind = 1 // i64
	RedisBulk  RedisReplyKind = 2 // u32 len | bytes
	RedisArray RedisReplyKind = 3 // u32 count | count × reply (NIL, INT or BULK only)
	RedisError RedisReplyKind = 4 // u32 len | UTF-8 message: this command failed, the others did not
)

// RedisReply is one decoded reply.
type RedisReply struct {
	Kind  RedisReplyKind
	Int   int64
	Bytes []byte       // BULK payload or ERROR message
	Elems []RedisReply // ARRAY elements
}

// Response encoding, for the host: "LRR1" | u32 N | N × reply.

// AppendRedisResponseHeader starts a response of n replies.
func AppendRedisResponseHeader(dst []byte, n int) []byte {
	dst = append(dst, RedisResponseMagic...)
	return binary.LittleEndian.AppendUint32(dst, uint32(n))
}

// AppendRedisNil appends a NIL reply.
func AppendRedisNil(dst []byte) []byte { return append(dst, byte(RedisNil)) }

// AppendRedisInt appends an INT reply.
func AppendRedisInt(dst []byte, v int64) []byte {
	return binary.LittleEndian.AppendUint64(append(dst, byte(RedisInt64)), uint64(v))
}

// AppendRedisBulk appends a BULK reply.
func AppendRedisBulk[T string | []byte](dst []byte, v T) []byte {
	dst = binary.LittleEndian.AppendUint32(append(dst, byte(RedisBulk)), uint32(len(v)))
	return append(dst, v...)
}

// AppendRedisArrayHeader starts an ARRAY of n elements.
func AppendRedisArrayHeader(dst []byte, n int) []byte {
	return binary.LittleEndian.AppendUint32(append(dst, byte(RedisArray)), uint32(n))
}

// AppendRedisError appends an ERROR reply.
func AppendRedisError(dst []byte, msg string) []byte {
	dst = binary.LittleEndian.AppendUint32(append(dst, byte(RedisError)), uint32(len(msg)))
	return append(dst, msg...)
}

// ErrRedisResponse is wrapped by every response decoding error.
var ErrRedisResponse = errors.New("malformed redis pipeline response")

// DecodeRedisResponse decodes a response that must hold exactly want replies. Bulk
// payloads alias b.
func DecodeRedisResponse(b []byte, want int) ([]RedisReply, error) {
	if len(b) < 8 || string(b[:4]) != RedisResponseMagic {
		return nil, fmt.Errorf("%w: missing the %q header", ErrRedisResponse, RedisResponseMagic)
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if uint64(n) != uint64(want) {
		return nil, fmt.Errorf("%w: %d replies for %d commands", ErrRedisResponse, n, want)
	}
	if uint64(n) > uint64(len(b)-8) {
		return nil, fmt.Errorf("%w: %d replies in %d bytes", ErrRedisResponse, n, len(b))
	}
	out := make([]RedisReply, n)
	p := b[8:]
	var err error
	for i := range out {
		if p, err = decodeReply(p, &out[i], true); err != nil {
			return nil, fmt.Errorf("%w: reply %d: %v", ErrRedisResponse, i, err)
		}
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last reply", ErrRedisResponse, len(p))
	}
	return out, nil
}

func decodeReply(p []byte, r *RedisReply, top bool) ([]byte, error) {
	if len(p) < 1 {
		return p, errors.New("truncated")
	}
	r.Kind = RedisReplyKind(p[0])
	p = p[1:]
	switch r.Kind {
	case RedisNil:
		return p, nil
	case RedisInt64:
		if len(p) < 8 {
			return p, errors.New("truncated integer")
		}
		r.Int = int64(binary.LittleEndian.Uint64(p))
		return p[8:], nil
	case RedisBulk, RedisError:
		if r.Kind == RedisError && !top {
			return p, errors.New("error inside an array")
		}
		if len(p) < 4 {
			return p, errors.New("truncated length")
		}
		l := binary.LittleEndian.Uint32(p)
		if uint64(l) > uint64(len(p)-4) {
			return p, fmt.Errorf("length %d exceeds the %d bytes left", l, len(p)-4)
		}
		r.Bytes = p[4 : 4+l : 4+l]
		return p[4+l:], nil
	case RedisArray:
		if !top {
			return p, errors.New("nested array")
		}
		if len(p) < 4 {
			return p, errors.New("truncated count")
		}
		n := binary.LittleEndian.Uint32(p)
		p = p[4:]
		if uint64(n) > uint64(len(p)) { // every element takes at least one byte
			return p, fmt.Errorf("%d elements in %d bytes", n, len(p))
		}
		r.Elems = make([]RedisReply, n)
		var err error
		for i := range r.Elems {
			if p, err = decodeReply(p, &r.Elems[i], false); err != nil {
				return p, fmt.Errorf("element %d: %v", i, err)
			}
		}
		return p, nil
	}
	return p, fmt.Errorf("unknown reply tag %d", uint8(r.Kind))
}
