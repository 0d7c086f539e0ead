package wasm

import (
	"errors"
	"fmt"
)

// Exports added by instrumentInterrupts: the interrupt flag, and the module's start
// function (moved out of the start section so the host can run it under the flag).
const (
	interruptExport = "larder_interrupt"
	startExport     = "larder_wasm_start"
)

// instrumentInterrupts rewrites a module so the host can stop it cheaply. It appends
// two mutable i32 globals, $stop (exported as larder_interrupt, set by the host at the
// deadline) and $budget, and makes every loop begin with
//
//	if (global.get $budget == 0) {
//	    memory.grow 0      ;; an exit to Go: the Go scheduler and GC can run here
//	    if (global.get $stop) unreachable
//	    global.set $budget 16384
//	}
//	global.set $budget (global.get $budget - 1)
//
// Every function also starts with "if (global.get $stop) unreachable", so a runaway
// recursion stops at the deadline instead of at wazero's 400 MB stack ceiling.
//
// Only loops can run forever in Wasm (recursion ends at the stack limit). Compiled
// guest code cannot be preempted by Go, so a loop must exit to Go now and then, or a
// stop-the-world GC (and with it the timer that sets $stop) would wait for it forever;
// wazero's WithCloseOnContextDone exits at every back-edge and starts a goroutine per
// call, this exits every 16384 iterations (see RATIONALE.md).
//
// The rewriter decodes every instruction. It fails, and the caller falls back to
// WithCloseOnContextDone, on anything it does not know. It also refuses code that
// names a global index the original module does not have, which validation would
// reject anyway, so a plugin cannot reach the added global.
func instrumentInterrupts(mod []byte) ([]byte, error) {
	if len(mod) < 8 || string(mod[:4]) != "\x00asm" || string(mod[4:8]) != "\x01\x00\x00\x00" {
		return nil, errors.New("not a core Wasm module (version 1)")
	}
	type sec struct {
		id      byte
		payload []byte
	}
	var secs []sec
	r := reader{b: mod, pos: 8}
	for r.pos < len(r.b) {
		id := r.byte()
		n := r.u32()
		p := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, r.err)
		}
		secs = append(secs, sec{id, p})
	}
	var importedGlobals, definedGlobals uint32
	start := int64(-1)
	hasMemory := false
	for _, s := range secs {
		switch s.id {
		case 5:
			sr := reader{b: s.payload}
			hasMemory = hasMemory || sr.u32() > 0
		case 8: // start
			sr := reader{b: s.payload}
			start = int64(sr.u32())
			if sr.err != nil {
				return nil, fmt.Errorf("start section: %w", sr.err)
			}
		case 2: // imports
			sr := reader{b: s.payload}
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				sr.name()
				sr.name()
				switch kind := sr.byte(); kind {
				case 0x00: // func
					sr.u32()
				case 0x01: // table: reftype, limits
					sr.byte()
					sr.limits()
				case 0x02: // memory
					sr.limits()
					hasMemory = true
				case 0x03: // global: valtype, mut
					sr.byte()
					sr.byte()
					importedGlobals++
				default:
					return nil, fmt.Errorf("import %d has unknown kind %#x", i, kind)
				}
			}
			if sr.err != nil {
				return nil, fmt.Errorf("import section: %w", sr.err)
			}
		case 6:
			sr := reader{b: s.payload}
			definedGlobals = sr.u32()
			if sr.err != nil {
				return nil, fmt.Errorf("global section: %w", sr.err)
			}
		}
	}
	if !hasMemory {
		return nil, errors.New("module has no memory")
	}
	globals := importedGlobals + definedGlobals
	flag, budget := globals, globals+1 // indices of the added globals

	// New global section: the old entries plus $stop = 0 and $budget.
	newGlobals := cat([]byte{0x7f, 0x01, 0x41, 0x00, 0x0b}, []byte{0x7f, 0x01, 0x41}, sleb(loopBudget), []byte{0x0b})
	globalSec := append(uleb(uint64(definedGlobals+2)), newGlobals...)
	exportEntry := append(append(uleb(uint64(len(interruptExport))), interruptExport...), 0x03)
	exportEntry = append(exportEntry, uleb(uint64(flag))...)
	added := uint32(1)
	if start >= 0 {
		exportEntry = append(append(exportEntry, uleb(uint64(len(startExport)))...), startExport...)
		exportEntry = append(append(exportEntry, 0x00), uleb(uint64(start))...)
		added++
	}
	exportSec := append(uleb(uint64(added)), exportEntry...)

	out := append([]byte(nil), mod[:8]...)
	wroteGlobal, wroteExport := false, false
	emit := func(id byte, p []byte) {
		out = append(out, id)
		out = append(out, uleb(uint64(len(p)))...)
		out = append(out, p...)
	}
	// Sections must keep the spec's order; custom sections (0) may sit anywhere.
	order := func(id byte) int {
		switch id {
		case 13: // tag, between memory and global
			return 55
		case 12: // data count, before code
			return 95
		}
		return int(id) * 10
	}
	for _, s := range secs {
		if s.id != 0 && !wroteGlobal && order(s.id) > order(6) {
			emit(6, globalSec)
			wroteGlobal = true
		}
		if s.id != 0 && !wroteExport && order(s.id) > order(7) {
			emit(7, exportSec)
			wroteExport = true
		}
		switch s.id {
		case 6:
			sr := reader{b: s.payload}
			sr.u32()
			emit(6, append(append(uleb(uint64(definedGlobals+2)), s.payload[sr.pos:]...), newGlobals...))
			wroteGlobal = true
		case 7:
			sr := reader{b: s.payload}
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				if nm := sr.name(); nm == interruptExport || nm == startExport {
					return nil, fmt.Errorf("module already exports %q", nm)
				}
				sr.byte()
				sr.u32()
			}
			if sr.err != nil {
				return nil, fmt.Errorf("export section: %w", sr.err)
			}
			p := append(uleb(uint64(n+added)), s.payload[uleb32Len(s.payload):]...)
			emit(7, append(p, exportEntry...))
			wroteExport = true
		case 8: // dropped: the host calls the start function through its export
		case 10:
			code, err := instrumentCode(s.payload, globals, flag, budget)
			if err != nil {
				return nil, err
			}
			emit(10, code)
		default:
			emit(s.id, s.payload)
		}
	}
	if !wroteGlobal {
		emit(6, globalSec)
	}
	if !wroteExport {
		emit(7, exportSec)
	}
	return out, nil
}

func uleb32Len(b []byte) int {
	r := reader{b: b}
	r.u32()
	return r.pos
}

// loopBudget is how many loop iterations run between exits to Go.
const loopBudget = 16384

// instrumentCode rewrites the code section.
func instrumentCode(payload []byte, globals, flag, budget uint32) ([]byte, error) {
	gget := func(i uint32) []byte { return append([]byte{0x23}, uleb(uint64(i))...) }
	gset := func(i uint32) []byte { return append([]byte{0x24}, uleb(uint64(i))...) }
	// At function entry: stop a deep recursion at the deadline rather than at wazero's
	// stack ceiling (stack growth exits to Go, so the timer gets to run).
	entry := cat(gget(flag), []byte{0x04, 0x40, 0x00, 0x0b})
	check := cat(
		gget(budget), []byte{0x45, 0x04, 0x40}, // if budget == 0
		[]byte{0x41, 0x00, 0x40, 0x00, 0x1a},       //   drop(memory.grow(0))
		gget(flag), []byte{0x04, 0x40, 0x00, 0x0b}, //   if stop: unreachable
		[]byte{0x41}, sleb(loopBudget), gset(budget), //   budget = loopBudget
		[]byte{0x0b},
		gget(budget), []byte{0x41, 0x01, 0x6b}, gset(budget), // budget--
	)
	r := reader{b: payload}
	n := r.u32()
	out := uleb(uint64(n))
	var body []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		b := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("code section, body %d: %w", i, r.err)
		}
		var err error
		body, err = instrumentBody(body[:0], b, globals, entry, check)
		if err != nil {
			return nil, fmt.Errorf("code section, body %d: %w", i, err)
		}
		out = append(out, uleb(uint64(len(body)))...)
		out = append(out, body...)
	}
	if r.pos != len(payload) {
		return nil, errors.New("code section has trailing bytes")
	}
	return out, nil
}

// instrumentBody copies one function body, inserting entry after the local
// declarations and check after every loop header.
func instrumentBody(out, b []byte, globals uint32, entry, check []byte) ([]byte, error) {
	r := reader{b: b}
	groups := r.u32()
	for i := uint32(0); i < groups && r.err == nil; i++ {
		r.u32()
		r.byte()
	}
	if r.err != nil {
		return nil, r.err
	}
	depth := 1 // the function's own block
	last := 0  // b[:last] has been copied to out
	flush := func() { out = append(out, b[last:r.pos]...); last = r.pos }
	flush()
	out = append(out, entry...)
	for r.err == nil && r.pos < len(b) {
		op := r.byte()
		switch {
		case op == 0x02 || op == 0x04: // block, if
			r.blockType()
			depth++
		case op == 0x03: // loop
			r.blockType()
			depth++
			flush()
			out = append(out, check...)
		case op == 0x0b: // end
			depth--
			if depth == 0 {
				if r.pos != len(b) {
					return nil, errors.New("bytes after the function's end")
				}
				flush()
				return out, nil
			}
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0f || op == 0x1a || op == 0x1b || op == 0xd1:
		case op == 0x0c || op == 0x0d || op == 0x10 || op == 0xd2 || op == 0x25 || op == 0x26 ||
			op >= 0x20 && op <= 0x22:
			r.u32()
		case op == 0x23 || op == 0x24: // global.get, global.set
			if idx := r.u32(); idx >= globals && r.err == nil {
				return nil, fmt.Errorf("global index %d out of range (%d globals)", idx, globals)
			}
		case op == 0x0e: // br_table
			n := r.u32()
			for i := uint32(0); i <= n && r.err == nil; i++ {
				r.u32()
			}
		case op == 0x11: // call_indirect
			r.u32()
			r.u32()
		case op == 0x1c: // select t*
			n := r.u32()
			r.bytes(int(n))
		case op >= 0x28 && op <= 0x3e: // loads and stores
			r.memarg()
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			r.byte()
		case op == 0x41:
			r.s64()
		case op == 0x42:
			r.s64()
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op >= 0x45 && op <= 0xc4: // numeric, no immediates
		case op == 0xd0: // ref.null
			r.byte()
		case op == 0xfc:
			if err := r.miscOp(); err != nil {
				return nil, err
			}
		case op == 0xfd:
			if err := r.simdOp(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unsupported opcode %#x at offset %d", op, r.pos-1)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return nil, errors.New("function body ends without end")
}

// reader decodes Wasm binary primitives; the first error sticks.
type reader struct {
	b   []byte
	pos int
	err error
}

var errShort = errors.New("unexpected end of data")

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.b) {
		r.err = errShort
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.pos {
		r.err = errShort
		return nil
	}
	p := r.b[r.pos : r.pos+n]
	r.pos += n
	return p
}

func (r *reader) leb(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errors.New("LEB128 number too long")
	return 0
}

func (r *reader) u32() uint32 { return uint32(r.leb(5)) }
func (r *reader) s64()        { r.leb(10) }

func (r *reader) name() string {
	n := r.u32()
	return string(r.bytes(int(n)))
}

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

func (r *reader) memarg() {
	r.u32()
	r.u32()
}

// blockType skips 0x40, a value type, or a type index (s33).
func (r *reader) blockType() {
	if r.pos < len(r.b) {
		switch r.b[r.pos] {
		case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
			r.pos++
			return
		}
	}
	r.leb(5)
}

// miscOp skips the 0xfc-prefixed instructions (saturating truncation, bulk memory,
// table operations).
func (r *reader) miscOp() error {
	switch op := r.u32(); {
	case op <= 7:
	case op == 8: // memory.init
		r.u32()
		r.byte()
	case op == 9 || op == 13 || op >= 15 && op <= 17:
		r.u32()
	case op == 10: // memory.copy
		r.byte()
		r.byte()
	case op == 11: // memory.fill
		r.byte()
	case op == 12 || op == 14: // table.init, table.copy
		r.u32()
		r.u32()
	default:
		return fmt.Errorf("unsupported 0xfc opcode %d", op)
	}
	return nil
}

// simdOp skips the 0xfd-prefixed (128-bit SIMD) instructions.
func (r *reader) simdOp() error {
	switch op := r.u32(); {
	case op <= 11 || op == 92 || op == 93: // loads, store, load_zero
		r.memarg()
	case op == 12 || op == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case op >= 21 && op <= 34: // extract and replace lane
		r.byte()
	case op >= 84 && op <= 91: // load and store lane
		r.memarg()
		r.byte()
	case op <= 255:
	default:
		return fmt.Errorf("unsupported 0xfd opcode %d", op)
	}
	return nil
}

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0)
		if !done {
			c |= 0x80
		}
		b = append(b, c)
		if done {
			return b
		}
	}
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
