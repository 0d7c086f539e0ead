// Package capdynamo implements the `dynamodb` capability (ABI spec §6.3) with
// aws-sdk-go-v2: batched item reads and writes and idempotent table creation and
// deletion, with JSON requests whose attribute values use DynamoDB's own JSON shape
// ({"S": …}, {"B": base64}, {"M": {…}} …).
//
// The host does the AWS-specific work a plugin should not: BatchGetItem in batches of at
// most 100 keys and BatchWriteItem in batches of 25, retrying unprocessed keys with
// exponential backoff, and keeping the order of the request. The plugin never sees the
// credentials (the default AWS chain, or static ones for a local endpoint). The grant may
// set a table namespace the host prepends to every table name transparently, and a
// prefix every name the plugin uses must start with.
package capdynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
)

// Operations (spec §6.3).
const (
	OpGetItems    uint32 = 1
	OpPutItems    uint32 = 2
	OpCreateTable uint32 = 3
	OpDeleteTable uint32 = 4
)

// Options bind a grant to DynamoDB.
type Options struct {
	Region string // AWS region [us-east-1]
	// Endpoint overrides the service endpoint (dynalite, DynamoDB Local); with it and no
	// AWS credentials in the environment, static dummy credentials are used.
	Endpoint string
	// Namespace is prepended to every table name by the host (the plugin cannot see or
	// escape it); "" = none, which Feast's layout needs to share tables with Feast.
	Namespace string
	// TablePrefix: every table name the plugin uses must start with it; "" = any.
	TablePrefix string
	// MaxResponseBytes caps one response [64 MiB].
	MaxResponseBytes int
	// MaxKeys caps the keys or items of one request [100 000].
	MaxKeys int
}

// Provider is one granted DynamoDB endpoint; its client is safe for concurrent use.
type Provider struct {
	opts   Options
	client *dynamodb.Client
}

// New builds the client; nothing is contacted until the first call.
func New(opts Options) (*Provider, error) {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 64 << 20
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 100_000
	}
	loaders := []func(*config.LoadOptions) error{config.WithRegion(opts.Region)}
	// A local endpoint (dynalite, DynamoDB Local) accepts any credentials; without
	// configured ones the default chain would probe EC2 instance metadata on every call.
	if opts.Endpoint != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		loaders = append(loaders, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("larder", "larder", "")))
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), loaders...)
	if err != nil {
		return nil, fmt.Errorf("dynamodb capability: loading the AWS configuration: %w", err)
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.RetryMaxAttempts = 3
	})
	return &Provider{opts: opts, client: client}, nil
}

// Open returns a session on the shared client.
func (p *Provider) Open() (caps.Session, error) { return &session{p: p}, nil }

// Close releases nothing: the client holds no connections that need closing.
func (p *Provider) Close() error { return nil }

type session struct {
	p    *Provider
	resp []byte
}

func (s *session) Close() error { return nil }

func (s *session) fail(st abi.Status, format string, args ...any) ([]byte, abi.Status) {
	s.resp = fmt.Appendf(s.resp[:0], "dynamodb: "+format, args...)
	return s.resp, st
}

type request struct {
	Table       string            `json:"table"`
	Key         string            `json:"key"`
	KeyType     string            `json:"key_type"`
	Keys        []json.RawMessage `json:"keys"`
	Items       []json.RawMessage `json:"items"`
	Consistent  bool              `json:"consistent"`
	Projections []string          `json:"projection"`
}

// Call implements caps.Session.
func (s *session) Call(ctx context.Context, op uint32, phase caps.Phase, req []byte) ([]byte, abi.Status) {
	if op < OpGetItems || op > OpDeleteTable {
		return s.fail(abi.StatusBadArgument, "unknown operation %d (want 1 GET_ITEMS, 2 PUT_ITEMS, 3 CREATE_TABLE or 4 DELETE_TABLE)", op)
	}
	if (op == OpCreateTable || op == OpDeleteTable) && !phase.AllowsDDL() {
		return s.fail(abi.StatusPermissionDenied, "creating and deleting tables is allowed only during apply and teardown, not during %s", phase)
	}
	var r request
	if err := json.Unmarshal(req, &r); err != nil {
		return s.fail(abi.StatusSerializationFailure, "request: %v", err)
	}
	if r.Table == "" {
		return s.fail(abi.StatusBadArgument, `request: "table" is missing`)
	}
	if !strings.HasPrefix(r.Table, s.p.opts.TablePrefix) {
		return s.fail(abi.StatusPermissionDenied, "table %q is outside this grant (names must start with %q)", r.Table, s.p.opts.TablePrefix)
	}
	table := s.p.opts.Namespace + r.Table
	if len(r.Keys) > s.p.opts.MaxKeys || len(r.Items) > s.p.opts.MaxKeys {
		return s.fail(abi.StatusResourceExhausted, "more than %d keys or items in one request", s.p.opts.MaxKeys)
	}
	switch op {
	case OpGetItems:
		return s.getItems(ctx, table, &r)
	case OpPutItems:
		return s.putItems(ctx, table, &r)
	case OpCreateTable:
		return s.createTable(ctx, table, &r)
	default:
		return s.deleteTable(ctx, table)
	}
}

// parallelism bounds the batch requests one call has in flight: DynamoDB serves batches
// independently, and a materialization write of thousands of rows is hundreds of them.
const parallelism = 8

// runBatches runs fn(i) for i in [0, n) with at most parallelism in flight (1 when
// sequential), and returns the first failure.
func runBatches(n int, sequential bool, fn func(i int) (abi.Status, string)) (abi.Status, string) {
	width := parallelism
	if sequential {
		width = 1
	}
	var (
		mu     sync.Mutex
		st     = abi.StatusOK
		msg    string
		wg     sync.WaitGroup
		sem    = make(chan struct{}, width)
		failed atomic.Bool
	)
	for i := 0; i < n && !failed.Load(); i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			if s, m := fn(i); s != abi.StatusOK {
				mu.Lock()
				if st == abi.StatusOK {
					st, msg = s, m
				}
				mu.Unlock()
				failed.Store(true)
			}
		}(i)
	}
	wg.Wait()
	return st, msg
}

// getItems reads r.Keys (values of the hash key r.Key) and answers {"items": [...]} in
// request order, null where an item does not exist. Distinct keys go out in batches of
// 100 (BatchGetItem refuses duplicates), several at a time.
func (s *session) getItems(ctx context.Context, table string, r *request) ([]byte, abi.Status) {
	if r.Key == "" {
		return s.fail(abi.StatusBadArgument, `GET_ITEMS: "key" (the hash key attribute) is missing`)
	}
	index := make(map[string][]int, len(r.Keys)) // key text → request positions
	var batches [][]map[string]types.AttributeValue
	for i, raw := range r.Keys {
		av, err := decodeAttr(raw, 0)
		if err != nil {
			return s.fail(abi.StatusBadArgument, "GET_ITEMS: keys[%d]: %v", i, err)
		}
		k, ok := keyString(av)
		if !ok {
			return s.fail(abi.StatusBadArgument, "GET_ITEMS: keys[%d] must be S, N or B", i)
		}
		if _, dup := index[k]; !dup {
			if len(batches) == 0 || len(batches[len(batches)-1]) == 100 {
				batches = append(batches, make([]map[string]types.AttributeValue, 0, 100))
			}
			batches[len(batches)-1] = append(batches[len(batches)-1], map[string]types.AttributeValue{r.Key: av})
		}
		index[k] = append(index[k], i)
	}
	found := make([]map[string]types.AttributeValue, len(r.Keys))
	var mu sync.Mutex
	st, msg := runBatches(len(batches), false, func(b int) (abi.Status, string) {
		pending := map[string]types.KeysAndAttributes{table: {Keys: batches[b], ConsistentRead: aws.Bool(r.Consistent)}}
		for attempt := 0; len(pending) > 0; attempt++ {
			out, err := s.p.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				st, msg := awsError(err)
				return st, "BatchGetItem on " + table + ": " + msg
			}
			mu.Lock()
			for _, item := range out.Responses[table] {
				k, _ := keyString(item[r.Key])
				for _, i := range index[k] {
					found[i] = item
				}
			}
			mu.Unlock()
			pending = out.UnprocessedKeys
			if len(pending) > 0 {
				if st, msg := backoff(ctx, attempt); st != abi.StatusOK {
					return st, "BatchGetItem on " + table + ": " + msg
				}
			}
		}
		return abi.StatusOK, ""
	})
	if st != abi.StatusOK {
		return s.fail(st, "%s", msg)
	}
	out := append(s.resp[:0], `{"items":[`...)
	for i, item := range found {
		if i > 0 {
			out = append(out, ',')
		}
		if item == nil {
			out = append(out, "null"...)
		} else {
			out = appendItem(out, item)
		}
		if len(out) > s.p.opts.MaxResponseBytes {
			s.resp = out
			return s.fail(abi.StatusResourceExhausted, "the response exceeds the %d-byte limit", s.p.opts.MaxResponseBytes)
		}
	}
	out = append(out, "]}"...)
	s.resp = out
	return out, abi.StatusOK
}

// putItems writes r.Items with BatchWriteItem, 25 at a time, several batches at a time.
// Where an item's key repeats, a batch ends before it and the batches run one after
// another, so the later item wins.
func (s *session) putItems(ctx context.Context, table string, r *request) ([]byte, abi.Status) {
	if r.Key == "" {
		return s.fail(abi.StatusBadArgument, `PUT_ITEMS: "key" (the hash key attribute) is missing`)
	}
	var batches [][]types.WriteRequest
	inBatch := map[string]bool{}
	seen := map[string]bool{}
	dups := false
	for i, raw := range r.Items {
		av, err := decodeAttr(raw, 0)
		if err != nil {
			return s.fail(abi.StatusBadArgument, "PUT_ITEMS: items[%d]: %v", i, err)
		}
		m, ok := av.(*types.AttributeValueMemberM)
		if !ok {
			return s.fail(abi.StatusBadArgument, "PUT_ITEMS: items[%d] must be an object of attributes", i)
		}
		k, ok := keyString(m.Value[r.Key])
		if !ok {
			return s.fail(abi.StatusBadArgument, "PUT_ITEMS: items[%d] has no %q key attribute of type S, N or B", i, r.Key)
		}
		dups = dups || seen[k]
		seen[k] = true
		if len(batches) == 0 || inBatch[k] || len(batches[len(batches)-1]) == 25 {
			batches = append(batches, make([]types.WriteRequest, 0, 25))
			clear(inBatch)
		}
		inBatch[k] = true
		batches[len(batches)-1] = append(batches[len(batches)-1], types.WriteRequest{PutRequest: &types.PutRequest{Item: m.Value}})
	}
	st, msg := runBatches(len(batches), dups, func(b int) (abi.Status, string) {
		pending := map[string][]types.WriteRequest{table: batches[b]}
		for attempt := 0; len(pending) > 0 && len(pending[table]) > 0; attempt++ {
			out, err := s.p.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				st, msg := awsError(err)
				return st, "BatchWriteItem on " + table + ": " + msg
			}
			pending = out.UnprocessedItems
			if len(pending) > 0 {
				if st, msg := backoff(ctx, attempt); st != abi.StatusOK {
					return st, "BatchWriteItem on " + table + ": " + msg
				}
			}
		}
		return abi.StatusOK, ""
	})
	if st != abi.StatusOK {
		return s.fail(st, "%s", msg)
	}
	s.resp = fmt.Appendf(s.resp[:0], `{"written":%d}`, len(r.Items))
	return s.resp, abi.StatusOK
}

// createTable creates a table keyed by r.Key (type r.KeyType, default S), billed per
// request as Feast's are, and waits until it is active. An existing table is success.
func (s *session) createTable(ctx context.Context, table string, r *request) ([]byte, abi.Status) {
	if r.Key == "" {
		return s.fail(abi.StatusBadArgument, `CREATE_TABLE: "key" (the hash key attribute) is missing`)
	}
	kt := types.ScalarAttributeType(r.KeyType)
	if r.KeyType == "" {
		kt = types.ScalarAttributeTypeS
	}
	if kt != types.ScalarAttributeTypeS && kt != types.ScalarAttributeTypeN && kt != types.ScalarAttributeTypeB {
		return s.fail(abi.StatusBadArgument, "CREATE_TABLE: key_type %q is not S, N or B", r.KeyType)
	}
	created := true
	_, err := s.p.client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(r.Key), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(r.Key), AttributeType: kt}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		created, err = false, nil
	}
	if err != nil {
		st, msg := awsError(err)
		return s.fail(st, "CreateTable %s: %s", table, msg)
	}
	w := dynamodb.NewTableExistsWaiter(s.p.client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		st, msg := awsError(err)
		return s.fail(st, "waiting for table %s to become active: %s", table, msg)
	}
	s.resp = fmt.Appendf(s.resp[:0], `{"created":%t}`, created)
	return s.resp, abi.StatusOK
}

// deleteTable deletes a table; a missing one is success.
func (s *session) deleteTable(ctx context.Context, table string) ([]byte, abi.Status) {
	deleted := true
	_, err := s.p.client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		deleted, err = false, nil
	}
	if err != nil {
		st, msg := awsError(err)
		return s.fail(st, "DeleteTable %s: %s", table, msg)
	}
	// Deletion is asynchronous; wait, so that re-creating the table right after works.
	w := dynamodb.NewTableNotExistsWaiter(s.p.client, func(o *dynamodb.TableNotExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		st, msg := awsError(err)
		return s.fail(st, "waiting for table %s to be deleted: %s", table, msg)
	}
	s.resp = fmt.Appendf(s.resp[:0], `{"deleted":%t}`, deleted)
	return s.resp, abi.StatusOK
}

// backoff waits 50 ms, 100 ms, … up to 1 s between retries of unprocessed keys (as
// Feast's Go store does), for at most 8 attempts.
func backoff(ctx context.Context, attempt int) (abi.Status, string) {
	if attempt >= 8 {
		return abi.StatusUnavailable, "keys still unprocessed after 8 attempts (throttled)"
	}
	d := 50 * time.Millisecond << attempt
	if d > time.Second {
		d = time.Second
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return abi.StatusDeadlineExceeded, ctx.Err().Error()
	case <-t.C:
		return abi.StatusOK, ""
	}
}

// awsError maps an SDK error to a status and a message.
func awsError(err error) (abi.Status, string) {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return abi.StatusDeadlineExceeded, err.Error()
	}
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return abi.StatusNotFound, nf.ErrorMessage()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg := ae.ErrorCode() + ": " + ae.ErrorMessage()
		switch ae.ErrorCode() {
		case "ValidationException", "SerializationException":
			return abi.StatusBadArgument, msg
		case "AccessDeniedException", "UnrecognizedClientException", "MissingAuthenticationTokenException", "InvalidSignatureException":
			return abi.StatusPermissionDenied, msg
		case "ConditionalCheckFailedException", "TransactionConflictException":
			return abi.StatusConflict, msg
		case "LimitExceededException", "ItemCollectionSizeLimitExceededException", "RequestLimitExceeded":
			return abi.StatusResourceExhausted, msg
		}
		return abi.StatusUnavailable, msg
	}
	// Connection refused, DNS, TLS, timeouts.
	return abi.StatusUnavailable, err.Error()
}
