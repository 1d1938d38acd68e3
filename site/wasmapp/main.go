//go:build wasip1

// Command wasmapp is the Go side of brisk's demo app. It is built as a WASI
// reactor (see package site for the command) and driven from JavaScript
// through the functions it exports; the glue in ../dist/pkg/brisk_demo.js
// supplies the WASI imports the Go runtime needs.
//
// It deliberately avoids fmt, os and math/big: each pulls in package os and
// with it more WASI imports (file descriptors, preopened directories) that a
// browser cannot meaningfully provide, and half a megabyte of code.
package main

import (
	"runtime"
	"strconv"
	"unsafe"
)

// counter is the demo's state. It lives in Go so that the number on the page
// is one the wasm module actually computed.
var counter int32

// out holds the text of the last call that produces a string. The glue reads
// it from linear memory at out_ptr, for the length that call returned. Go's
// garbage collector does not move objects, and this package-level reference
// keeps the bytes alive until the next such call replaces them.
var out []byte

// main is never called: with -buildmode=c-shared the module is a reactor,
// whose _initialize export only runs the runtime and package initialisers.
func main() {}

//go:wasmexport increment
func increment() int32 {
	counter++
	return counter
}

//go:wasmexport value
func value() int32 {
	return counter
}

//go:wasmexport add
func add(delta int32) int32 {
	counter += delta
	return counter
}

// outPtr returns the address of the text last produced by hello or fib.
//
//go:wasmexport out_ptr
func outPtr() unsafe.Pointer {
	return unsafe.Pointer(unsafe.SliceData(out))
}

// hello formats a greeting that only the Go runtime can know and returns its
// length in bytes.
//
//go:wasmexport hello
func hello() int32 {
	out = append(out[:0], "Hello from Go "...)
	out = append(out, runtime.Version()...)
	out = append(out, " in WebAssembly ("...)
	out = append(out, runtime.GOOS...)
	out = append(out, '/')
	out = append(out, runtime.GOARCH...)
	out = append(out, ')')
	return int32(len(out))
}

// maxFib bounds fib's argument so that a runaway counter cannot make a single
// call take long; fib(20000) has 4180 decimal digits.
const maxFib = 20000

// limbBase is the radix of the numbers fib adds: each uint32 limb holds nine
// decimal digits, so printing needs no division and a sum of two limbs plus a
// carry still fits in a uint32.
const limbBase = 1_000_000_000

// fib writes the n-th Fibonacci number, exactly and in decimal, and returns
// its length in bytes. n is clamped to [0, maxFib].
//
//go:wasmexport fib
func fib(n int32) int32 {
	n = max(0, min(n, maxFib))
	a, b := []uint32{0}, []uint32{1} // little-endian limbs, a <= b
	for range n {
		a = addLimbs(a, b)
		a, b = b, a
	}
	out = appendLimbs(out[:0], a)
	return int32(len(out))
}

// addLimbs adds src to dst in place and returns dst, grown as needed. It
// requires len(src) >= len(dst), which holds when dst <= src.
func addLimbs(dst, src []uint32) []uint32 {
	var carry uint32
	for i, s := range src {
		if i == len(dst) {
			dst = append(dst, 0)
		}
		sum := dst[i] + s + carry
		carry = 0
		if sum >= limbBase {
			sum -= limbBase
			carry = 1
		}
		dst[i] = sum
	}
	if carry != 0 {
		dst = append(dst, carry)
	}
	return dst
}

// appendLimbs appends the decimal form of the little-endian limbs x to b.
func appendLimbs(b []byte, x []uint32) []byte {
	top := len(x) - 1
	b = strconv.AppendUint(b, uint64(x[top]), 10)
	var digits [9]byte
	for i := top - 1; i >= 0; i-- {
		d := strconv.AppendUint(digits[:0], uint64(x[i]), 10)
		b = append(b, "000000000"[len(d):]...)
		b = append(b, d...)
	}
	return b
}
