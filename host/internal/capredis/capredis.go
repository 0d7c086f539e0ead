package capredis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/redis/go-redis/v9"
)

// Options bind a grant to a Redis deployment.
type Options struct {
	// Connection is a redis:// or rediss:// URL or Feast's connection_string.
	Connection string
	// Type is redis (default), redis_cluster or redis_sentinel (Feast's redis_type).
	Type string
	// SentinelMaster is the master name for redis_sentinel ["mymaster"].
	SentinelMaster string
	// KeyPrefix is the namespace of the grant: the host prepends it to every key the plugin
	// names and strips it from keys SCAN returns, so the plugin can reach no other key.
	// Empty = the whole database (what Feast's layout needs to share data with Feast).
	KeyPrefix string
	// Commands allow-lists command names (HMGET, HSET…); empty = every command of §6.2.
	Commands []string

	MaxCommands      int // commands per pipeline [100 000]
	MaxKeyBytes      int // key length, namespace excluded [8 KiB]
	MaxArgBytes      int // any other argument (a field, a value) [16 MiB]
	MaxScanCount     int // SCAN COUNT hint [10 000]
	MaxResponseBytes int // response size [64 MiB]
	PoolSize         int // connections to each node [go-redis default: 10 × GOMAXPROCS]
}

// Provider is one granted Redis deployment, shared by every instance of a plugin. Its
// go-redis client (a connection pool) is safe for concurrent use.
type Provider struct {
	opts    Options
	ep      *endpoint
	client  redis.UniversalClient
	allowed [len(cmdNames)]bool
	prefix  []byte
}

var cmdNames = [...]string{"", "HMGET", "HGETALL", "HSET", "HDEL", "DEL", "EXPIRE", "PEXPIREAT", "EXISTS", "SCAN"}

// cmdNameArgs holds the command names boxed once, as go-redis takes its arguments.
var cmdNameArgs = func() (a [len(cmdNames)]any) {
	for i, n := range cmdNames {
		a[i] = n
	}
	return a
}()

// New checks opts and returns a provider; nothing connects until the first call.
func New(opts Options) (*Provider, error) {
	ep, err := parseConnection(opts.Connection, opts.Type, opts.SentinelMaster)
	if err != nil {
		return nil, fmt.Errorf("redis capability: %w", err)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.MaxCommands, 100_000)
	def(&opts.MaxKeyBytes, 8<<10)
	def(&opts.MaxArgBytes, 16<<20)
	def(&opts.MaxScanCount, 10_000)
	def(&opts.MaxResponseBytes, 64<<20)
	p := &Provider{opts: opts, ep: ep, prefix: []byte(opts.KeyPrefix)}
	if len(opts.Commands) == 0 {
		for i := 1; i < len(cmdNames); i++ {
			p.allowed[i] = true
		}
	}
	for _, c := range opts.Commands {
		code, ok := abi.ParseRedisCmd(strings.ToUpper(c))
		if !ok {
			return nil, fmt.Errorf("redis capability %s: command %q cannot be allowed (the capability offers %s)",
				ep.display, c, strings.Join(abi.RedisCmdNames(), ", "))
		}
		p.allowed[code] = true
	}
	quietOnce.Do(func() { redis.SetLogger(slogLogger{}) })
	p.client = ep.client(opts.PoolSize)
	return p, nil
}

// Describe names the deployment without its password.
func (p *Provider) Describe() string { return p.ep.typ + " " + p.ep.display }

// Open returns a session on the shared client.
func (p *Provider) Open() (caps.Session, error) { return &session{p: p}, nil }

// Close closes the client and its connections.
func (p *Provider) Close() error { return p.client.Close() }

type session struct {
	p    *Provider
	cmds []abi.RedisCommand
	rcmd []redis.Cmder
	args []any
	keys []byte
	resp []byte
}

func (s *session) Close() error { return nil }

func (s *session) fail(st abi.Status, format string, args ...any) ([]byte, abi.Status) {
	s.resp = fmt.Appendf(s.resp[:0], "redis: "+format, args...)
	return s.resp, st
}

// Call implements caps.Session.
func (s *session) Call(ctx context.Context, op uint32, _ caps.Phase, req []byte) ([]byte, abi.Status) {
	if op != abi.RedisOpPipeline {
		return s.fail(abi.StatusBadArgument, "unknown operation %d (want %d PIPELINE)", op, abi.RedisOpPipeline)
	}
	var err error
	s.cmds, err = abi.DecodeRedisRequest(req, s.cmds, s.p.opts.MaxCommands)
	if err != nil {
		st := abi.StatusSerializationFailure
		if strings.Contains(err.Error(), "limit") {
			st = abi.StatusResourceExhausted
		}
		return s.fail(st, "%v", err)
	}
	if st, msg := s.check(); st != abi.StatusOK {
		return s.fail(st, "%s", msg)
	}
	if s.cmds[0].Cmd == abi.RedisSCAN {
		return s.scan(ctx)
	}
	return s.pipeline(ctx)
}

// check enforces the allow-list, argument limits, and that SCAN is not mixed with other
// commands, before anything is sent.
func (s *session) check() (abi.Status, string) {
	o := &s.p.opts
	scans := 0
	for i := range s.cmds {
		c := &s.cmds[i]
		if !s.p.allowed[c.Cmd] {
			return abi.StatusPermissionDenied, fmt.Sprintf("command %d: %s is not allowed by this grant", i, c.Cmd)
		}
		if c.Cmd == abi.RedisSCAN {
			scans++
			n, _ := abi.RedisIntArg(c.Args[1])
			if n < 1 || n > int64(o.MaxScanCount) {
				return abi.StatusBadArgument, fmt.Sprintf("command %d: SCAN count %d is outside 1..%d", i, n, o.MaxScanCount)
			}
			if len(c.Args[2])+len(c.Args[3]) > o.MaxKeyBytes {
				return abi.StatusBadArgument, fmt.Sprintf("command %d: SCAN prefix and suffix exceed the %d-byte key limit", i, o.MaxKeyBytes)
			}
			continue
		}
		if len(c.Args[0]) > o.MaxKeyBytes {
			return abi.StatusBadArgument, fmt.Sprintf("command %d (%s): key of %d bytes exceeds the %d-byte limit", i, c.Cmd, len(c.Args[0]), o.MaxKeyBytes)
		}
		for j, a := range c.Args[1:] {
			if len(a) > o.MaxArgBytes {
				return abi.StatusBadArgument, fmt.Sprintf("command %d (%s) argument %d: %d bytes exceeds the %d-byte limit", i, c.Cmd, j+1, len(a), o.MaxArgBytes)
			}
		}
		switch c.Cmd {
		case abi.RedisEXPIRE:
			if v, _ := abi.RedisIntArg(c.Args[1]); v <= 0 {
				// EXPIRE with 0 or less deletes the key; a plugin deletes with DEL.
				return abi.StatusBadArgument, fmt.Sprintf("command %d: EXPIRE seconds must be positive, got %d", i, v)
			}
		case abi.RedisPEXPIREAT:
			if v, _ := abi.RedisIntArg(c.Args[1]); v <= 0 {
				return abi.StatusBadArgument, fmt.Sprintf("command %d: PEXPIREAT time must be positive, got %d", i, v)
			}
		}
	}
	if scans > 0 && scans != len(s.cmds) {
		return abi.StatusBadArgument, "a pipeline holding SCAN must hold only SCAN commands"
	}
	return abi.StatusOK, ""
}

// key returns the plugin's key inside the grant's namespace.
func (s *session) key(k []byte) []byte {
	if len(s.p.prefix) == 0 {
		return k
	}
	start := len(s.keys)
	s.keys = append(append(s.keys, s.p.prefix...), k...)
	return s.keys[start:len(s.keys):len(s.keys)]
}

func (s *session) pipeline(ctx context.Context) ([]byte, abi.Status) {
	s.keys = s.keys[:0]
	s.args = s.args[:0]
	s.rcmd = s.rcmd[:0]
	// Arguments alias the guest's request: it cannot change while this host call runs.
	var prev []any // the previous command's arguments
	for i := range s.cmds {
		c := &s.cmds[i]
		start := len(s.args)
		s.args = append(s.args, cmdNameArgs[c.Cmd], s.key(c.Args[0]))
		switch c.Cmd {
		case abi.RedisEXPIRE, abi.RedisPEXPIREAT:
			v, _ := abi.RedisIntArg(c.Args[1])
			s.args = append(s.args, v)
		default:
			// Putting a []byte in an `any` allocates. The HMGETs of a read repeat their
			// view's fields command after command (100 entities × 50 features = 5 000
			// boxes per request otherwise), so an argument equal to the one in the same
			// place of the previous command reuses its box.
			same := len(prev) > 0 && prev[0] == s.args[start]
			for j, a := range c.Args[1:] {
				if same && j+2 < len(prev) {
					if pa, ok := prev[j+2].([]byte); ok && bytes.Equal(pa, a) {
						s.args = append(s.args, prev[j+2])
						continue
					}
				}
				s.args = append(s.args, a)
			}
		}
		args := s.args[start:len(s.args):len(s.args)]
		prev = args
		var rc redis.Cmder
		switch c.Cmd {
		case abi.RedisHMGET:
			rc = redis.NewSliceCmd(ctx, args...)
		case abi.RedisHGETALL:
			rc = redis.NewMapStringStringCmd(ctx, args...)
		default:
			rc = redis.NewIntCmd(ctx, args...)
		}
		s.rcmd = append(s.rcmd, rc)
	}
	pipe := s.p.client.Pipeline()
	if err := pipe.BatchProcess(ctx, s.rcmd...); err != nil {
		return s.fail(abi.StatusInternal, "queueing the pipeline: %v", err)
	}
	_, _ = pipe.Exec(ctx) // errors are per command, read below
	out := abi.AppendRedisResponseHeader(s.resp[:0], len(s.rcmd))
	for i, rc := range s.rcmd {
		if err := rc.Err(); err != nil && err != redis.Nil {
			st, perCommand := classify(err)
			if !perCommand {
				s.resp = out
				return s.fail(st, "%s on %s (command %d, %s): %v", verb(st), s.p.Describe(), i, s.cmds[i].Cmd, err)
			}
			out = abi.AppendRedisError(out, err.Error())
			continue
		}
		switch c := rc.(type) {
		case *redis.SliceCmd:
			vals := c.Val()
			out = abi.AppendRedisArrayHeader(out, len(vals))
			for _, v := range vals {
				switch v := v.(type) {
				case nil:
					out = abi.AppendRedisNil(out)
				case string:
					out = abi.AppendRedisBulk(out, v)
				default:
					return s.fail(abi.StatusInternal, "command %d (HMGET): unexpected reply element %T", i, v)
				}
			}
		case *redis.MapStringStringCmd:
			m := c.Val()
			out = abi.AppendRedisArrayHeader(out, 2*len(m))
			for f, v := range m {
				out = abi.AppendRedisBulk(abi.AppendRedisBulk(out, f), v)
			}
		case *redis.IntCmd:
			out = abi.AppendRedisInt(out, c.Val())
		}
		if len(out) > s.p.opts.MaxResponseBytes {
			s.resp = out
			return s.fail(abi.StatusResourceExhausted, "the response exceeds the %d-byte limit at command %d", s.p.opts.MaxResponseBytes, i)
		}
	}
	s.resp = out
	// Drop references to guest memory and replies.
	clear(s.args)
	clear(s.rcmd)
	return out, abi.StatusOK
}

func verb(st abi.Status) string {
	switch st {
	case abi.StatusDeadlineExceeded:
		return "deadline exceeded"
	case abi.StatusPermissionDenied:
		return "access refused"
	}
	return "unavailable"
}

// classify maps a command error to a status for the whole call, or says it belongs to
// the command alone (a Redis error reply such as WRONGTYPE).
func classify(err error) (abi.Status, bool) {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return abi.StatusDeadlineExceeded, false
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := strings.TrimPrefix(re.Error(), "ERR ")
		for _, p := range []string{"LOADING", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "READONLY", "BUSY", "NOREPLICAS", "MOVED", "ASK"} {
			if strings.HasPrefix(msg, p) {
				return abi.StatusUnavailable, false
			}
		}
		for _, p := range []string{"NOAUTH", "WRONGPASS", "NOPERM"} {
			if strings.HasPrefix(msg, p) {
				return abi.StatusPermissionDenied, false
			}
		}
		return abi.StatusOK, true
	}
	// A read that hit its socket deadline (go-redis sets it from the context's deadline
	// on a pooled connection) is a server that did not answer in time, not one that
	// refused: the plugin reports DEADLINE_EXCEEDED, as for the context itself.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return abi.StatusDeadlineExceeded, false
	}
	// Anything else is the connection: refused, reset, pool exhausted.
	return abi.StatusUnavailable, false
}

// scan runs a pipeline of SCAN commands. Each matches keys that start with the
// namespace and prefix and end with suffix; the match pattern escapes glob characters,
// so binary key bytes (a serialized entity key may hold '*' or '[') match literally.
func (s *session) scan(ctx context.Context) ([]byte, abi.Status) {
	out := abi.AppendRedisResponseHeader(s.resp[:0], len(s.cmds))
	var nodes []*redis.Client
	for i := range s.cmds {
		c := &s.cmds[i]
		cursor, _ := abi.RedisIntArg(c.Args[0])
		count, _ := abi.RedisIntArg(c.Args[1])
		prefix := append(append([]byte(nil), s.p.prefix...), c.Args[2]...)
		suffix := c.Args[3]
		pattern := globEscape(prefix) + "*" + globEscape(suffix)
		var (
			keys []string
			next uint64
			err  error
		)
		if cc, ok := s.p.client.(*redis.ClusterClient); ok {
			if nodes == nil {
				if nodes, err = masters(ctx, cc); err != nil {
					st, _ := classify(err)
					return s.fail(st, "%s listing the masters of %s: %v", verb(st), s.p.Describe(), err)
				}
			}
			keys, next, err = scanCluster(ctx, nodes, uint64(cursor), pattern, count)
		} else {
			keys, next, err = s.p.client.Scan(ctx, uint64(cursor), pattern, count).Result()
		}
		if err != nil {
			st, perCommand := classify(err)
			if !perCommand {
				return s.fail(st, "%s on %s (command %d, SCAN): %v", verb(st), s.p.Describe(), i, err)
			}
			out = abi.AppendRedisError(out, err.Error())
			continue
		}
		n := 0
		for _, k := range keys {
			if matches(k, prefix, suffix) {
				n++
			}
		}
		out = abi.AppendRedisArrayHeader(out, n+1)
		out = abi.AppendRedisInt(out, int64(next))
		for _, k := range keys {
			if matches(k, prefix, suffix) {
				out = abi.AppendRedisBulk(out, k[len(s.p.prefix):])
			}
		}
		if len(out) > s.p.opts.MaxResponseBytes {
			s.resp = out
			return s.fail(abi.StatusResourceExhausted, "the response exceeds the %d-byte limit at command %d", s.p.opts.MaxResponseBytes, i)
		}
	}
	s.resp = out
	return out, abi.StatusOK
}

func matches(k string, prefix, suffix []byte) bool {
	return len(k) >= len(prefix)+len(suffix) && strings.HasPrefix(k, string(prefix)) && strings.HasSuffix(k, string(suffix))
}

func globEscape(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		switch c {
		case '*', '?', '[', ']', '\\':
			sb.WriteByte('\\')
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// Cluster SCAN: the cursor's top 16 bits index the master (sorted by address, so the
// order is stable while the topology is), the low 48 bits are that node's cursor.
const nodeShift = 48

func masters(ctx context.Context, cc *redis.ClusterClient) ([]*redis.Client, error) {
	var (
		nodes []*redis.Client
		mu    sync.Mutex
	)
	// ForEachMaster calls fn concurrently.
	err := cc.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		nodes = append(nodes, c)
		mu.Unlock()
		return nil
	})
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Options().Addr < nodes[j].Options().Addr })
	return nodes, err
}

func scanCluster(ctx context.Context, nodes []*redis.Client, cursor uint64, pattern string, count int64) ([]string, uint64, error) {
	idx, c := int(cursor>>nodeShift), cursor&(1<<nodeShift-1)
	if idx >= len(nodes) {
		return nil, 0, redisError("ERR invalid cursor " + strconv.FormatUint(cursor, 10) + " for a cluster of " + strconv.Itoa(len(nodes)) + " masters")
	}
	keys, next, err := nodes[idx].Scan(ctx, c, pattern, count).Result()
	if err != nil {
		return nil, 0, err
	}
	if next >= 1<<nodeShift {
		return nil, 0, fmt.Errorf("node %s returned cursor %d, beyond 48 bits", nodes[idx].Options().Addr, next)
	}
	if next == 0 {
		if idx+1 == len(nodes) {
			return keys, 0, nil
		}
		return keys, uint64(idx+1) << nodeShift, nil
	}
	return keys, uint64(idx)<<nodeShift | next, nil
}

// redisError is an error reply made by the host, reported to the plugin like one from
// the server.
type redisError string

func (e redisError) Error() string { return string(e) }
func (redisError) RedisError()     {}
