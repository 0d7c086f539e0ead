package wasm

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/fault"
)

// pool is a bounded set of instances of one plugin. An instance serves one call at a
// time; free instances wait in a channel. tokens holds one entry per live instance, so
// at most max exist. Discarded instances are replaced in the background up to min,
// which keeps a crashed instance's replacement cost (milliseconds for a Go guest) off
// the next caller's path.
type pool struct {
	p      *Plugin
	min    int
	free   chan *instance
	tokens chan struct{}
	refill chan struct{}

	ctx    context.Context // canceled by close; bounds background instantiation
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	created, discarded atomic.Uint64
}

func newPool(p *Plugin, min, max int) *pool {
	ctx, cancel := context.WithCancel(context.Background())
	return &pool{
		p: p, min: min,
		free:   make(chan *instance, max),
		tokens: make(chan struct{}, max),
		refill: make(chan struct{}, 1),
		ctx:    ctx, cancel: cancel,
	}
}

// adopt adds an instance created during loading.
func (pl *pool) adopt(in *instance) {
	pl.tokens <- struct{}{}
	pl.created.Add(1)
	pl.free <- in
}

func (pl *pool) start() {
	pl.wg.Add(1)
	go pl.refiller()
	pl.signal()
}

func (pl *pool) signal() {
	select {
	case pl.refill <- struct{}{}:
	default:
	}
}

// acquire returns a free instance, creates one if fewer than max exist, or waits until
// ctx ends.
func (pl *pool) acquire(ctx context.Context) (*instance, error) {
	select {
	case in := <-pl.free:
		return in, nil
	default:
	}
	select {
	case in := <-pl.free:
		return in, nil
	case pl.tokens <- struct{}{}:
		in, err := pl.p.newInstance(ctx)
		if err != nil {
			<-pl.tokens
			return nil, err
		}
		pl.created.Add(1)
		return in, nil
	case <-ctx.Done():
		if ctx.Err() == context.Canceled {
			return nil, fault.New(pl.p.name, "", fault.ErrCanceled, ctx.Err(), "waiting for a free instance")
		}
		return nil, fault.New(pl.p.name, "", fault.ErrPoolExhausted, abi.ErrResourceExhausted,
			"all %d instances stayed busy until the call deadline", cap(pl.tokens))
	case <-pl.ctx.Done():
		return nil, fault.New(pl.p.name, "", fault.ErrClosed, nil, "closed while waiting for an instance")
	}
}

// release returns an instance after a call; a discarded one is closed and replaced.
func (pl *pool) release(in *instance, discard bool) {
	if discard || pl.closed.Load() {
		in.close()
		pl.discarded.Add(1)
		<-pl.tokens
		pl.signal()
		return
	}
	pl.free <- in // never blocks: the channel holds max and at most max instances exist
}

func (pl *pool) refiller() {
	defer pl.wg.Done()
	for {
		select {
		case <-pl.refill:
		case <-pl.ctx.Done():
			return
		}
		for len(pl.tokens) < pl.min && pl.p.breaker.state.Load() == stateClosed && pl.ctx.Err() == nil {
			select {
			case pl.tokens <- struct{}{}:
			default:
				continue
			}
			ctx, cancel := context.WithTimeout(pl.ctx, pl.p.opts.CallTimeout)
			in, err := pl.p.newInstance(ctx)
			cancel()
			if err != nil {
				<-pl.tokens
				if pl.ctx.Err() == nil {
					pl.p.breaker.record(outcomeFault, fault.Class(err), err.Error())
					pl.p.logWarn("replacing a plugin instance failed", err)
				}
				break
			}
			pl.created.Add(1)
			pl.free <- in
		}
	}
}

// close stops the refiller and closes idle instances; busy ones close on release.
func (pl *pool) close() {
	pl.closed.Store(true)
	pl.cancel()
	pl.wg.Wait()
	for {
		select {
		case in := <-pl.free:
			in.close()
			<-pl.tokens
		default:
			return
		}
	}
}

func (pl *pool) String() string {
	return fmt.Sprintf("%d live, %d idle, max %d", len(pl.tokens), len(pl.free), cap(pl.tokens))
}
