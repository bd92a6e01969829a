//go:build !race

package pyre

const raceEnabled = false
