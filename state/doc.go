// Package state turns failures into decisions: per pipeline, a sliding window
// of failure times per address (by the log's own time) and the bans it
// yields. It is pure logic and reads no clock; the store that keeps bans,
// windows and history across restarts is state/store, reached only through
// the History interface.
package state
