//go:build race

package asciire_test

// The race detector makes the walks too slow for the longest test.
const raceEnabled = true
