//go:build !race

package match

// raceDetector tells that the tests run under the race detector.
const raceDetector = false
