package site

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// This file reads just enough of the WebAssembly binary format (core spec,
// "Binary Format" chapter) to list a module's imports and exports, so that the
// tests can check the embedded module against its glue without a wasm runtime
// as a dependency.

// External kinds, as encoded in import and export descriptors.
const (
	kindFunc   = 0x00
	kindTable  = 0x01
	kindMemory = 0x02
	kindGlobal = 0x03
	kindTag    = 0x04
)

// Section ids that parseWasm reads; it skips all others.
const (
	sectionImport = 2
	sectionExport = 7
)

type wasmImport struct {
	module, name string
	kind         byte
}

type wasmExport struct {
	name string
	kind byte
}

type wasmModule struct {
	imports []wasmImport
	exports []wasmExport
}

var wasmHeader = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// parseWasm checks the header and the section framing of a binary module and
// returns its imports and exports. It does not validate the code.
func parseWasm(b []byte) (*wasmModule, error) {
	if len(b) < len(wasmHeader) || string(b[:4]) != string(wasmHeader[:4]) {
		return nil, errors.New("no wasm magic number")
	}
	if string(b[4:8]) != string(wasmHeader[4:]) {
		return nil, fmt.Errorf("wasm binary version %x, want 1", b[4:8])
	}
	m := new(wasmModule)
	r := &wasmReader{b: b[8:]}
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		size := r.u32()
		sec := &wasmReader{b: r.bytes(int(size))}
		if r.err != nil {
			break
		}
		switch id {
		case sectionImport:
			m.imports = readImports(sec)
		case sectionExport:
			m.exports = readExports(sec)
		default:
			continue
		}
		if sec.err == nil && len(sec.b) != 0 {
			sec.err = fmt.Errorf("%d bytes left over", len(sec.b))
		}
		if sec.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

func readImports(r *wasmReader) []wasmImport {
	var imports []wasmImport
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		imp := wasmImport{module: r.name(), name: r.name(), kind: r.byte()}
		switch imp.kind {
		case kindFunc:
			r.u32() // type index
		case kindTable:
			r.byte() // reference type
			r.limits()
		case kindMemory:
			r.limits()
		case kindGlobal:
			r.byte() // value type
			r.byte() // mutability
		case kindTag:
			r.byte() // attribute
			r.u32()  // type index
		default:
			r.fail(fmt.Errorf("import %s.%s: unknown kind %#x", imp.module, imp.name, imp.kind))
		}
		imports = append(imports, imp)
	}
	return imports
}

func readExports(r *wasmReader) []wasmExport {
	var exports []wasmExport
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		exp := wasmExport{name: r.name(), kind: r.byte()}
		r.u32() // index
		if exp.kind > kindTag {
			r.fail(fmt.Errorf("export %s: unknown kind %#x", exp.name, exp.kind))
		}
		exports = append(exports, exp)
	}
	return exports
}

// wasmReader consumes b from the front. The first error sticks; after it,
// reads return zero values.
type wasmReader struct {
	b   []byte
	err error
}

var errTruncated = errors.New("unexpected end of data")

func (r *wasmReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *wasmReader) byte() byte {
	if len(r.b) == 0 {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wasmReader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail(errTruncated)
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

// uleb reads an unsigned LEB128 number of at most bits bits.
func (r *wasmReader) uleb(bits int) uint64 {
	var v uint64
	for shift := 0; ; shift += 7 {
		if shift >= bits {
			r.fail(fmt.Errorf("LEB128 number longer than %d bits", bits))
			return 0
		}
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if rest := bits - shift; rest < 7 && c&0x7f>>rest != 0 {
			r.fail(fmt.Errorf("LEB128 number longer than %d bits", bits))
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *wasmReader) u32() uint32 { return uint32(r.uleb(32)) }

func (r *wasmReader) name() string {
	p := r.bytes(int(r.u32()))
	if r.err == nil && !utf8.Valid(p) {
		r.fail(errors.New("name is not UTF-8"))
	}
	return string(p)
}

// limits reads a table or memory type's limits: a flags byte, the minimum
// and, if flag bit 0 is set, the maximum. Flag bit 2 marks 64-bit limits.
func (r *wasmReader) limits() {
	flags := r.byte()
	bits := 32
	if flags&0x04 != 0 {
		bits = 64
	}
	r.uleb(bits)
	if flags&0x01 != 0 {
		r.uleb(bits)
	}
}
