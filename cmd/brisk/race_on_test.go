//go:build race

package main

// raceEnabled marks runs under the race detector, where load tests are
// too slow to mean anything; .ci/run runs them in a step without it.
const raceEnabled = true
