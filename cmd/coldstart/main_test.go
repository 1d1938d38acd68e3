//go:build linux

package main

import (
	"bytes"
	"math"
	"testing"
)

// The report's p10/median/p90 are only as good as this interpolation, and
// off-by-one ranks are easy to get wrong at the ends.
func TestPercentile(t *testing.T) {
	tests := []struct {
		sorted []float64
		p      float64
		want   float64
	}{
		{nil, 0.5, math.NaN()},
		{[]float64{7}, 0, 7},
		{[]float64{7}, 0.5, 7},
		{[]float64{7}, 1, 7},
		{[]float64{1, 2}, 0.5, 1.5},
		{[]float64{1, 2, 3}, 0.5, 2},
		{[]float64{1, 2, 3, 4}, 0.5, 2.5},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 0.1, 2},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 0.9, 10},
		{[]float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 0.1, 19},
		{[]float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 0.9, 91},
		{[]float64{1, 2, 3}, 0, 1},
		{[]float64{1, 2, 3}, 1, 3},
	}
	for _, tt := range tests {
		got := percentile(tt.sorted, tt.p)
		if math.IsNaN(tt.want) && math.IsNaN(got) {
			continue
		}
		if math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
		}
	}
}

// The synthetic module must be exactly the size asked for and framed as a
// valid wasm custom section, or the bytes served are not "a 4 MB wasm".
func TestSyntheticWasmFraming(t *testing.T) {
	const size = 1 << 16
	w := syntheticWasm(size)
	if len(w) != size {
		t.Fatalf("len = %d, want %d", len(w), size)
	}
	if !bytes.HasPrefix(w, []byte("\x00asm\x01\x00\x00\x00\x00")) {
		t.Fatalf("header % x", w[:9])
	}
	var sectionSize uint64
	for i, c := range w[9:13] {
		sectionSize |= uint64(c&0x7f) << (7 * i)
	}
	if got := 13 + int(sectionSize); got != size {
		t.Errorf("custom section ends at %d, want %d", got, size)
	}
	if !bytes.Equal(w, syntheticWasm(size)) {
		t.Error("not deterministic")
	}
}
