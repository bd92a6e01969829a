//go:build race

package native

// The race detector makes sync.Pool drop items, so regexp allocates.
const raceEnabled = true
