package nativestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/feast/murmur3"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"
)

// Redis reads Feast's Redis online-store layout directly with go-redis: one pipeline of
// HMGET per (view, entity), as plugins/redis does from inside the sandbox. It is the
// "native" side of the Redis serving benchmark and reads only; data is written by the
// plugin (or by Feast).
type Redis struct {
	client redis.UniversalClient
}

// NewRedis reads through client (which the caller closes).
func NewRedis(client redis.UniversalClient) *Redis { return &Redis{client: client} }

var errReadOnly = errors.New("nativestore.Redis reads only: write with the redis plugin")

func (r *Redis) Update(context.Context, host.UpdateRequest) error   { return errReadOnly }
func (r *Redis) Teardown(context.Context, host.UpdateRequest) error { return errReadOnly }
func (r *Redis) Write(context.Context, host.WriteRequest) error     { return errReadOnly }
func (r *Redis) Close(context.Context) error                        { return nil }

// Read answers every view of the request from one pipeline.
func (r *Redis) Read(ctx context.Context, req host.ReadRequest) (*host.ReadResult, error) {
	pipe := r.client.Pipeline()
	cmds := make([][]*redis.SliceCmd, len(req.Views))
	for v := range req.Views {
		view := &req.Views[v]
		fields := make([]string, 0, len(view.Features)+1)
		for _, f := range view.Features {
			name := murmur3.FieldName32([]byte(view.Name + ":" + f))
			fields = append(fields, string(name[:]))
		}
		fields = append(fields, "_ts:"+view.Name)
		for _, ek := range view.EntityKeys {
			cmds[v] = append(cmds[v], pipe.HMGet(ctx, string(ek)+req.Project, fields...))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading features from redis: %w", err)
	}
	res := &host.ReadResult{Views: make([][]host.FeatureValue, len(req.Views))}
	for v := range req.Views {
		nf := len(req.Views[v].Features)
		out := make([]host.FeatureValue, 0, len(cmds[v])*nf)
		for _, c := range cmds[v] {
			vals := c.Val()
			var ts time.Time
			if s, ok := vals[nf].(string); ok {
				var err error
				if ts, err = decodeTimestamp([]byte(s)); err != nil {
					return nil, fmt.Errorf("reading features from redis: _ts:%s: %w", req.Views[v].Name, err)
				}
			}
			for f := 0; f < nf; f++ {
				if s, ok := vals[f].(string); ok {
					out = append(out, host.FeatureValue{Value: []byte(s), EventTS: ts, Status: abi.FieldPresent})
				} else {
					out = append(out, host.FeatureValue{Status: abi.FieldNotFound})
				}
			}
		}
		res.Views[v] = out
	}
	return res, nil
}

// decodeTimestamp decodes a serialized google.protobuf.Timestamp.
func decodeTimestamp(b []byte) (time.Time, error) {
	var sec, nanos int64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return time.Time{}, protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return time.Time{}, protowire.ParseError(n)
			}
			if num == 1 {
				sec = int64(v)
			} else {
				nanos = int64(int32(v))
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return time.Time{}, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return time.Unix(sec, nanos).UTC(), nil
}
