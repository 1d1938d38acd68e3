//go:build race

package testkit

// RaceEnabled marks runs under the race detector, which makes brotli 11
// about ten times slower and load tests meaningless: tests that push
// megabytes through the encoders pick a fast level there, and .ci/run
// runs the real-wasm and hardening tests in steps without it.
const RaceEnabled = true
