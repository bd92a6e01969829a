// Package state turns failures into decisions: per pipeline, a sliding window
// of failure times per address (by the log's own time) and the bans it
// yields, plus the store that keeps active bans across restarts.
package state
