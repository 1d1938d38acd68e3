//go:build race

package compress

// raceEnabled lets tests that push megabytes through the encoders pick the
// fast level: the race detector makes brotli 11 about ten times slower.
const raceEnabled = true
