package capredis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Deployment types, named as Feast's `redis_type`.
const (
	TypeRedis    = "redis"
	TypeCluster  = "redis_cluster"
	TypeSentinel = "redis_sentinel"
)

// DefaultSentinelMaster is Feast's default `sentinel_master`.
const DefaultSentinelMaster = "mymaster"

// endpoint is a parsed connection: where to connect and how, in go-redis terms.
type endpoint struct {
	typ      string
	addrs    []string
	db       int
	username string
	password string
	tls      *tls.Config
	master   string
	display  string // the connection with the password masked, for messages
}

// parseConnection accepts a redis:// or rediss:// URL (path = database number, query
// `addr=` for more cluster or sentinel nodes, `master_name=` for sentinel) or Feast's
// connection_string: comma-separated `host:port` nodes and `key=value` options (db, ssl,
// password, username, ssl_cert_reqs).
func parseConnection(conn, typ, master string) (*endpoint, error) {
	switch typ {
	case "":
		typ = TypeRedis
	case TypeRedis, TypeCluster, TypeSentinel:
	default:
		return nil, fmt.Errorf("unknown redis_type %q (want %s, %s or %s)", typ, TypeRedis, TypeCluster, TypeSentinel)
	}
	if strings.TrimSpace(conn) == "" {
		return nil, errors.New("the connection string is empty")
	}
	var (
		e   *endpoint
		err error
	)
	if strings.Contains(conn, "://") {
		e, err = parseURL(conn)
	} else {
		e, err = parseFeast(conn)
	}
	if err != nil {
		return nil, err
	}
	e.typ = typ
	if e.master == "" {
		e.master = master
	}
	if e.master == "" && typ == TypeSentinel {
		e.master = DefaultSentinelMaster
	}
	if typ == TypeCluster && e.db != 0 {
		return nil, fmt.Errorf("%s: a Redis cluster has only database 0, the connection selects %d", e.display, e.db)
	}
	if typ == TypeRedis && len(e.addrs) > 1 {
		return nil, fmt.Errorf("%s: %d nodes given for redis_type %s; set redis_type: %s or %s", e.display, len(e.addrs), TypeRedis, TypeCluster, TypeSentinel)
	}
	return e, nil
}

func parseURL(conn string) (*endpoint, error) {
	u, err := url.Parse(conn)
	if err != nil {
		// url's error quotes the input, password included: say less.
		return nil, errors.New("the connection URL does not parse")
	}
	e := &endpoint{display: u.Redacted()}
	switch u.Scheme {
	case "redis":
	case "rediss":
		e.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	default:
		return nil, fmt.Errorf("%s: unknown scheme %q (want redis or rediss)", e.display, u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "6379"
	}
	e.addrs = []string{net.JoinHostPort(host, port)}
	if u.User != nil {
		e.username = u.User.Username()
		e.password, _ = u.User.Password()
		if _, set := u.User.Password(); !set {
			// redis://:password@host and redis://password@host are both common.
			e.username, e.password = "", e.username
		}
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if e.db, err = strconv.Atoi(p); err != nil || e.db < 0 {
			return nil, fmt.Errorf("%s: the URL path %q is not a database number", e.display, u.Path)
		}
	}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "addr":
			e.addrs = append(e.addrs, vs...)
		case "db":
			if e.db, err = strconv.Atoi(v); err != nil || e.db < 0 {
				return nil, fmt.Errorf("%s: db=%q is not a database number", e.display, v)
			}
		case "master_name":
			e.master = v
		case "skip_verify", "ssl_cert_reqs":
			if e.tls != nil && (v == "true" || v == "none") {
				e.tls.InsecureSkipVerify = true
			}
		default:
			return nil, fmt.Errorf("%s: unsupported URL option %q (supported: addr, db, master_name, skip_verify)", e.display, k)
		}
	}
	return e, nil
}

func parseFeast(conn string) (*endpoint, error) {
	e := &endpoint{}
	var shown []string
	var insecure bool
	for _, part := range strings.Split(conn, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, isOpt := strings.Cut(part, "=")
		if !isOpt {
			shown = append(shown, part)
			host, port, err := net.SplitHostPort(part)
			if err != nil {
				host, port = part, "6379"
			}
			if host == "" {
				host = "localhost"
			}
			if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				return nil, fmt.Errorf("connection_string node %q: port %q is not a number", part, port)
			}
			e.addrs = append(e.addrs, net.JoinHostPort(host, port))
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if k == "password" {
			shown = append(shown, "password=xxxxx")
		} else {
			shown = append(shown, part)
		}
		switch k {
		case "db":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("connection_string: db=%q is not a database number", v)
			}
			e.db = n
		case "ssl":
			b, err := strconv.ParseBool(strings.ToLower(v))
			if err != nil {
				return nil, fmt.Errorf("connection_string: ssl=%q is not true or false", v)
			}
			if b {
				e.tls = &tls.Config{MinVersion: tls.VersionTLS12}
			}
		case "password":
			e.password = v
		case "username":
			e.username = v
		case "ssl_cert_reqs":
			insecure = strings.EqualFold(v, "none")
		default:
			return nil, fmt.Errorf("connection_string: unsupported option %q (supported: db, ssl, password, username, ssl_cert_reqs)", k)
		}
	}
	e.display = strings.Join(shown, ",")
	if len(e.addrs) == 0 {
		return nil, fmt.Errorf("connection_string %q names no host:port", e.display)
	}
	if e.tls != nil {
		e.tls.InsecureSkipVerify = insecure
	}
	return e, nil
}

// client builds the go-redis client. Clients connect lazily, so a server that is down
// fails calls (UNAVAILABLE), not loading.
//
// Retries are few: a server that is down should fail a read in milliseconds with
// UNAVAILABLE rather than spend the call's deadline redialling. One retry still covers a
// pooled connection the server closed.
func (e *endpoint) client(poolSize int) redis.UniversalClient {
	const (
		maxRetries    = 1
		dialerRetries = 2
		dialBackoff   = 20 * time.Millisecond
	)
	switch e.typ {
	case TypeCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: e.addrs, Username: e.username, Password: e.password, TLSConfig: e.tls,
			ContextTimeoutEnabled: true, PoolSize: poolSize, DisableIdentity: true,
			MaxRetries: maxRetries, DialerRetries: dialerRetries, DialerRetryTimeout: dialBackoff,
		})
	case TypeSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: e.master, SentinelAddrs: e.addrs, Username: e.username, Password: e.password,
			DB: e.db, TLSConfig: e.tls, ContextTimeoutEnabled: true, PoolSize: poolSize, DisableIdentity: true,
			MaxRetries: maxRetries, DialerRetries: dialerRetries, DialerRetryTimeout: dialBackoff,
		})
	}
	return redis.NewClient(&redis.Options{
		Addr: e.addrs[0], Username: e.username, Password: e.password, DB: e.db, TLSConfig: e.tls,
		ContextTimeoutEnabled: true, PoolSize: poolSize, DisableIdentity: true,
		MaxRetries: maxRetries, DialerRetries: dialerRetries, DialerRetryTimeout: dialBackoff,
	})
}

// go-redis logs connection trouble to stderr from inside its pool; the capability
// already reports it to the plugin (and so to the request), so those lines go to slog at
// debug level instead. The logger is process-wide in go-redis.
var quietOnce sync.Once

type slogLogger struct{}

func (slogLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}
