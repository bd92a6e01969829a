//go:build !race

package asciire_test

const raceEnabled = false
