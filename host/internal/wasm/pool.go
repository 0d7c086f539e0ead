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
// time; free instances wait in a channel. tokens holds one entry per live instance or
// instance being created, so at most max exist.
//
// Callers never create or close instances: a background worker does both. Creating a
// Go guest's instance costs milliseconds of CPU (instantiation plus its start
// functions), and a caller that paid it after a fault had discarded the last instance
// overran its deadline by that much. So a discarded instance is handed to the worker,
// which closes it and creates its replacement; a caller that finds no idle instance
// while fewer than max exist asks the worker for one more; either way the caller waits
// for the first instance to come free, no longer than its context allows.
type pool struct {
	p      *Plugin
	min    int
	free   chan *instance
	tokens chan struct{}
	dead   chan *instance // discarded instances, for the worker to close
	wake   chan struct{}
	owed   atomic.Int32 // tokens taken whose instance the worker has yet to create

	failMu  sync.Mutex
	failed  chan struct{} // closed (and replaced) when creating an instance fails
	failErr error

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
		dead:   make(chan *instance, max),
		wake:   make(chan struct{}, 1),
		failed: make(chan struct{}),
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
	go pl.worker()
	pl.signal()
}

func (pl *pool) signal() {
	select {
	case pl.wake <- struct{}{}:
	default:
	}
}

// acquire returns a free instance, or waits for one until ctx ends; when none is idle
// and fewer than max exist, the worker is asked to create one.
func (pl *pool) acquire(ctx context.Context) (*instance, error) {
	select {
	case in := <-pl.free:
		return in, nil
	default:
	}
	select {
	case pl.tokens <- struct{}{}:
		pl.owed.Add(1)
	default:
	}
	pl.signal()
	pl.failMu.Lock()
	failed := pl.failed
	pl.failMu.Unlock()
	select {
	case in := <-pl.free:
		return in, nil
	case <-failed:
		pl.failMu.Lock()
		err := pl.failErr
		pl.failMu.Unlock()
		return nil, err
	case <-ctx.Done():
		if ctx.Err() == context.Canceled {
			return nil, fault.New(pl.p.name, "", fault.ErrCanceled, ctx.Err(), "waiting for a free instance")
		}
		return nil, fault.New(pl.p.name, "", fault.ErrPoolExhausted, abi.ErrResourceExhausted,
			"no instance of %d came free before the call deadline", cap(pl.tokens))
	case <-pl.ctx.Done():
		return nil, fault.New(pl.p.name, "", fault.ErrClosed, nil, "closed while waiting for an instance")
	}
}

// release returns an instance after a call. A discarded one goes to the worker, which
// closes it and creates its replacement.
func (pl *pool) release(in *instance, discard bool) {
	if !discard && !pl.closed.Load() {
		pl.free <- in // never blocks: the channel holds max and at most max instances exist
		return
	}
	pl.discarded.Add(1)
	if pl.closed.Load() {
		in.close()
		<-pl.tokens
		return
	}
	select {
	case pl.dead <- in:
	default:
		in.close() // the worker is far behind; never block a caller on it
	}
	pl.owed.Add(1) // the token passes to the replacement
	pl.signal()
}

// worker closes discarded instances and creates the owed ones, then tops the pool up
// to min while the breaker is closed.
func (pl *pool) worker() {
	defer pl.wg.Done()
	for {
		select {
		case <-pl.wake:
		case <-pl.ctx.Done():
			return
		}
		for pl.ctx.Err() == nil {
			pl.closeDead()
			if n := pl.owed.Load(); n > 0 {
				if !pl.owed.CompareAndSwap(n, n-1) {
					continue
				}
			} else if len(pl.tokens) < pl.min && pl.p.breaker.state.Load() == stateClosed {
				select {
				case pl.tokens <- struct{}{}:
				default:
					continue
				}
			} else {
				break
			}
			ctx, cancel := context.WithTimeout(pl.ctx, pl.p.opts.CallTimeout)
			in, err := pl.p.newInstance(ctx)
			cancel()
			if err != nil {
				<-pl.tokens
				if pl.ctx.Err() != nil {
					return
				}
				pl.p.breaker.record(outcomeFault, fault.Class(err), err.Error())
				pl.p.logWarn("creating a plugin instance failed", err)
				pl.fail(err)
				continue // each failure gives up one owed instance, so this ends
			}
			pl.created.Add(1)
			pl.free <- in
		}
	}
}

func (pl *pool) closeDead() {
	for {
		select {
		case in := <-pl.dead:
			in.close()
		default:
			return
		}
	}
}

// fail wakes the callers waiting for an instance with err.
func (pl *pool) fail(err error) {
	pl.failMu.Lock()
	pl.failErr = err
	close(pl.failed)
	pl.failed = make(chan struct{})
	pl.failMu.Unlock()
}

// close stops the worker and closes idle and discarded instances; busy ones close on
// release.
func (pl *pool) close() {
	pl.closed.Store(true)
	pl.cancel()
	pl.wg.Wait()
	pl.closeDead()
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
