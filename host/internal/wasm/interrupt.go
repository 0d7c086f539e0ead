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
	roomExport      = "larder_call_room"
)

// instrumentInterrupts rewrites a module so the host can stop it cheaply. It appends
// mutable i32 globals, $stop (exported as larder_interrupt, set by the host at the
// deadline) and $budget, an empty function $check of type [] -> [] (its index is
// returned), and makes every loop begin with
//
//	if (global.get $budget == 0) {
//	    call $check        ;; an exit to Go: the host's listener runs here
//	    if (global.get $stop) unreachable
//	    global.set $budget 16384
//	}
//	global.set $budget (global.get $budget - 1)
//
// The host attaches a wazero function listener to $check (checkListener): it runs in
// the calling goroutine, sets $stop once the call's deadline has passed and yields the
// processor. Every function entry passes the same check (a call spends budget like a
// loop iteration), and a third global, $room (exported as larder_call_room), counts
// the calls that may still nest: entry traps when it is 0 and takes one, every way out
// of the function gives it back (see instrumentBody).
//
// Compiled guest code cannot be preempted by Go, so a guest must exit to Go now and
// then, or a stop-the-world GC would wait for it forever; wazero's
// WithCloseOnContextDone exits at every loop back-edge and starts a goroutine per call,
// this exits every 16384 loop iterations or calls (see RATIONALE.md). $check is
// appended after every existing function and its type after every existing type, so no
// index in the module changes.
//
// The rewriter decodes every instruction. It fails, and the caller falls back to
// WithCloseOnContextDone, on anything it does not know. It also refuses code that
// names a global index the original module does not have, which validation would
// reject anyway, so a plugin cannot reach the added globals.
func instrumentInterrupts(mod []byte) (_ []byte, check uint32, err error) {
	if len(mod) < 8 || string(mod[:4]) != "\x00asm" || string(mod[4:8]) != "\x01\x00\x00\x00" {
		return nil, 0, errors.New("not a core Wasm module (version 1)")
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
			return nil, 0, fmt.Errorf("section %d: %w", id, r.err)
		}
		secs = append(secs, sec{id, p})
	}
	var importedGlobals, definedGlobals, importedFuncs, definedFuncs, types uint32
	var typeResults [][]byte // per type: its result types
	var funcTypes []uint32   // per defined function: its type
	start := int64(-1)
	count := func(s sec, what string) (uint32, error) {
		sr := reader{b: s.payload}
		n := sr.u32()
		if sr.err != nil {
			return 0, fmt.Errorf("%s section: %w", what, sr.err)
		}
		return n, nil
	}
	var seen [256]bool
	for _, s := range secs {
		if s.id != 0 && seen[s.id] {
			return nil, 0, fmt.Errorf("section %d appears twice", s.id)
		}
		seen[s.id] = true
		switch s.id {
		case 1:
			if typeResults, err = funcTypeResults(s.payload); err != nil {
				return nil, 0, err
			}
			types = uint32(len(typeResults))
		case 3:
			sr := reader{b: s.payload}
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				funcTypes = append(funcTypes, sr.u32())
			}
			if sr.err != nil {
				return nil, 0, fmt.Errorf("function section: %w", sr.err)
			}
			definedFuncs = n
		case 6:
			if definedGlobals, err = count(s, "global"); err != nil {
				return nil, 0, err
			}
		case 8: // start
			sr := reader{b: s.payload}
			start = int64(sr.u32())
			if sr.err != nil {
				return nil, 0, fmt.Errorf("start section: %w", sr.err)
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
					importedFuncs++
				case 0x01: // table: reftype, limits
					sr.byte()
					sr.limits()
				case 0x02: // memory
					sr.limits()
				case 0x03: // global: valtype, mut
					sr.byte()
					sr.byte()
					importedGlobals++
				default:
					return nil, 0, fmt.Errorf("import %d has unknown kind %#x", i, kind)
				}
			}
			if sr.err != nil {
				return nil, 0, fmt.Errorf("import section: %w", sr.err)
			}
		}
	}
	if uint64(importedFuncs)+uint64(definedFuncs) >= 1<<32-1 || types == 1<<32-1 {
		return nil, 0, errors.New("no room for another function")
	}
	globals := importedGlobals + definedGlobals
	ix := indices{globals: globals, flag: globals, budget: globals + 1, room: globals + 2}
	check = importedFuncs + definedFuncs
	ix.check = check
	checkType := types

	// Each function body is wrapped in a block of the function's result type (see
	// instrumentBody). A block of several results needs a type of its own, [] -> results;
	// those types are appended after $check's.
	newTypes := []byte{0x60, 0x00, 0x00} // $check: [] -> []
	added := uint32(1)
	blockTypes := make([][]byte, len(typeResults))
	multi := map[string]uint32{}
	for t, res := range typeResults {
		switch len(res) {
		case 0:
			blockTypes[t] = []byte{0x40}
		case 1:
			blockTypes[t] = []byte{res[0]}
		default:
			idx, ok := multi[string(res)]
			if !ok {
				idx = types + added
				multi[string(res)] = idx
				newTypes = append(append(append(newTypes, 0x60, 0x00), uleb(uint64(len(res)))...), res...)
				added++
			}
			blockTypes[t] = sleb(int64(idx))
		}
	}
	for i, t := range funcTypes {
		if t >= types {
			return nil, 0, fmt.Errorf("function %d has type %d, of %d types", i, t, types)
		}
		ix.blockTypes = append(ix.blockTypes, blockTypes[t])
	}

	// Payloads of the sections that gain entries, whether or not the module has them.
	checkBody := []byte{0x02, 0x00, 0x0b} // size 2: no locals, end
	newGlobals := cat(
		[]byte{0x7f, 0x01, 0x41, 0x00, 0x0b},                     // $stop = 0
		[]byte{0x7f, 0x01, 0x41}, sleb(loopBudget), []byte{0x0b}, // $budget
		[]byte{0x7f, 0x01, 0x41}, sleb(maxCallDepth), []byte{0x0b}, // $room
	)
	exportEntry := []byte(nil)
	exports := uint32(0)
	export := func(name string, kind byte, idx uint32) {
		exportEntry = append(append(exportEntry, uleb(uint64(len(name)))...), name...)
		exportEntry = append(append(exportEntry, kind), uleb(uint64(idx))...)
		exports++
	}
	export(interruptExport, 0x03, ix.flag)
	export(roomExport, 0x03, ix.room)
	if start >= 0 {
		export(startExport, 0x00, uint32(start))
	}
	fresh := map[byte][]byte{
		1:  append(uleb(uint64(added)), newTypes...),
		3:  append(uleb(1), uleb(uint64(checkType))...),
		6:  append(uleb(3), newGlobals...),
		7:  append(uleb(uint64(exports)), exportEntry...),
		10: append(uleb(1), checkBody...),
	}
	// extend rewrites a vector section with n entries: count n+k, old entries, extra.
	extend := func(payload []byte, k uint32, extra []byte) []byte {
		sr := reader{b: payload}
		n := sr.u32()
		return append(append(uleb(uint64(n+k)), payload[sr.pos:]...), extra...)
	}

	out := append([]byte(nil), mod[:8]...)
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
		if s.id != 0 {
			// Sections the module lacks are emitted where they belong.
			for _, id := range []byte{1, 3, 6, 7, 10} {
				if p, ok := fresh[id]; ok && order(id) < order(s.id) {
					emit(id, p)
					delete(fresh, id)
				}
			}
		}
		delete(fresh, s.id)
		switch s.id {
		case 1:
			emit(1, extend(s.payload, added, newTypes))
		case 3:
			emit(3, extend(s.payload, 1, uleb(uint64(checkType))))
		case 6:
			emit(6, extend(s.payload, 3, newGlobals))
		case 7:
			sr := reader{b: s.payload}
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				if nm := sr.name(); nm == interruptExport || nm == startExport || nm == roomExport {
					return nil, 0, fmt.Errorf("module already exports %q", nm)
				}
				sr.byte()
				sr.u32()
			}
			if sr.err != nil {
				return nil, 0, fmt.Errorf("export section: %w", sr.err)
			}
			emit(7, extend(s.payload, exports, exportEntry))
		case 8: // dropped: the host calls the start function through its export
		case 10:
			code, err := instrumentCode(s.payload, ix)
			if err != nil {
				return nil, 0, err
			}
			emit(10, extend(code, 1, checkBody))
		default:
			emit(s.id, s.payload)
		}
	}
	for _, id := range []byte{1, 3, 6, 7, 10} {
		if p, ok := fresh[id]; ok {
			emit(id, p)
		}
	}
	return out, check, nil
}

// loopBudget is how many loop iterations run between exits to Go.
const loopBudget = 16384

// maxCallDepth is how many Wasm calls may nest. wazero grows a call's machine stack by
// doubling it, in Go, up to a fixed ceiling of about 50 MB (hundreds of MB allocated
// and copied along the way, ~1.5 million frames of a small function): one growth step
// cannot be interrupted, and eight guests recursing at once stalled every call in the
// process for up to 1.5 s. At 65536 frames a recursion bomb traps after a few MB of
// stack. Go guests keep their own stack in linear memory, so their Wasm depth is their
// Go call depth; 65536 nested calls is far beyond what serving code needs.
const maxCallDepth = 1 << 16

// indices are what the rewrite of the code section needs to know.
type indices struct {
	globals            uint32   // globals of the original module
	flag, budget, room uint32   // the added globals
	check              uint32   // the added function
	blockTypes         [][]byte // per defined function: the block type of its results
}

// instrumentCode rewrites the code section.
func instrumentCode(payload []byte, ix indices) ([]byte, error) {
	gget := func(i uint32) []byte { return append([]byte{0x23}, uleb(uint64(i))...) }
	gset := func(i uint32) []byte { return append([]byte{0x24}, uleb(uint64(i))...) }
	exit := cat(gget(ix.room), []byte{0x41, 0x01, 0x6a}, gset(ix.room)) // room++
	check := cat(
		gget(ix.budget), []byte{0x45, 0x04, 0x40}, // if budget == 0
		[]byte{0x10}, uleb(uint64(ix.check)), //   call $check
		gget(ix.flag), []byte{0x04, 0x40, 0x00, 0x0b}, //   if stop: unreachable
		[]byte{0x41}, sleb(loopBudget), gset(ix.budget), //   budget = loopBudget
		[]byte{0x0b},
		gget(ix.budget), []byte{0x41, 0x01, 0x6b}, gset(ix.budget), // budget--
	)
	// At function entry: trap at the depth limit, count the frame, and spend budget
	// like a loop iteration: a recursion that stays shallow but never ends (a tree of
	// calls without loops) must reach $check too, both to stop at its deadline and to
	// let Go's garbage collector stop the world.
	entry := cat(
		gget(ix.room), []byte{0x45, 0x04, 0x40, 0x00, 0x0b}, // if room == 0: unreachable
		gget(ix.room), []byte{0x41, 0x01, 0x6b}, gset(ix.room), // room--
		check,
	)
	r := reader{b: payload}
	n := r.u32()
	if r.err == nil && n != uint32(len(ix.blockTypes)) {
		return nil, fmt.Errorf("code section has %d bodies, function section %d functions", n, len(ix.blockTypes))
	}
	out := uleb(uint64(n))
	var body []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		b := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("code section, body %d: %w", i, r.err)
		}
		var err error
		body, err = instrumentBody(body[:0], b, ix.globals, cat(entry, []byte{0x02}, ix.blockTypes[i]), exit, check)
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
// declarations, exit before every return and at the end, and check after every loop
// header. entry ends by opening a block of the function's result type that holds the
// original body: a branch to the function's own label (br, br_if, br_table) then lands
// at the end of that block, where exit runs, so every way out of the function but a
// trap passes exit.
func instrumentBody(out, b []byte, globals uint32, entry, exit, check []byte) ([]byte, error) {
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
	flush := func(to int) { out = append(out, b[last:to]...); last = to }
	flush(r.pos)
	out = append(out, entry...)
	for r.err == nil && r.pos < len(b) {
		at := r.pos
		op := r.byte()
		switch {
		case op == 0x02 || op == 0x04: // block, if
			r.blockType()
			depth++
		case op == 0x03: // loop
			r.blockType()
			depth++
			flush(r.pos)
			out = append(out, check...)
		case op == 0x0b: // end
			depth--
			if depth == 0 {
				if r.pos != len(b) {
					return nil, errors.New("bytes after the function's end")
				}
				flush(at)
				out = append(out, 0x0b) // the body's block
				out = append(out, exit...)
				out = append(out, 0x0b)
				return out, nil
			}
		case op == 0x0f: // return
			flush(at)
			out = append(out, exit...)
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x1a || op == 0x1b || op == 0xd1:
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

// funcTypeResults decodes a type section and returns each type's results. It refuses
// anything but function types of single-byte value types (numbers, v128, funcref,
// externref), which is all wazero accepts.
func funcTypeResults(payload []byte) ([][]byte, error) {
	r := reader{b: payload}
	n := r.u32()
	var out [][]byte
	valid := func(vs []byte) bool {
		for _, v := range vs {
			switch v {
			case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
			default:
				return false
			}
		}
		return true
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		if form := r.byte(); form != 0x60 && r.err == nil {
			return nil, fmt.Errorf("type %d has form %#x, not a function type", i, form)
		}
		params := r.bytes(int(r.u32()))
		results := r.bytes(int(r.u32()))
		if r.err == nil && (!valid(params) || !valid(results)) {
			return nil, fmt.Errorf("type %d has a value type this rewriter does not know", i)
		}
		out = append(out, results)
	}
	if r.err != nil {
		return nil, fmt.Errorf("type section: %w", r.err)
	}
	return out, nil
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
