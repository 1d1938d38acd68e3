//go:build race

package server

// raceEnabled marks runs under the race detector, which makes brotli 11
// about ten times slower; .ci/run runs the real-wasm test without it.
const raceEnabled = true
