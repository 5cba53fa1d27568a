//go:build race

package sentencepiece

// The race detector makes sync.Pool drop items at random.
const raceEnabled = true
