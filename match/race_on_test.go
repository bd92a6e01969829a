//go:build race

package match

// The race detector makes sync.Pool drop items, so regexp allocates.
const raceEnabled = true
