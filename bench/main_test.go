//go:build linux

package main

import (
	"slices"
	"testing"
)

func TestParseInts(t *testing.T) {
	tests := []struct {
		list    string
		want    []int
		wantErr bool
	}{
		{list: "", want: nil},
		{list: "25,50,75", want: []int{25, 50, 75}},
		{list: " 1, 64 ,", want: []int{1, 64}},
		{list: "0", wantErr: true},
		{list: "101", wantErr: true},
		{list: "4k", wantErr: true},
		{list: "-1", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseInts("-x", tt.list, 1, 100, "numbers")
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("parseInts(%q) = %v, %v; want %v, error %v", tt.list, got, err, tt.want, tt.wantErr)
		}
	}
}
