package ingest

import (
	"context"
	"sync"
)

// BatchSize is the most entries a batching source puts in one batch.
const BatchSize = 512

// BatchSource is a Source that can also deliver its entries in batches (a
// file read a buffer at a time): one channel operation per batch instead
// of one per entry, which at a million lines a second was most of what
// handing them over cost.
//
// RunBatches is Run with the entries in batches of at most BatchSize, in
// the order Run would send them; a batch sent belongs to the receiver,
// which may give it back with Recycle. A batch holds what was read so far,
// without waiting for more: one line appended alone comes alone.
//
// A batch is applied whole, between two commits of its consumer, so only
// the last position of each stream in a batch is ever stored: the other
// entries of the stream may leave Pos.Value nil (Pos.Key is set), which
// spares a file source making a cursor per line.
type BatchSource interface {
	Source
	RunBatches(ctx context.Context, out chan<- []Entry) error
}

// batches recycles the batches' arrays between sources and the pipelines.
var batches = sync.Pool{New: func() any {
	b := make([]Entry, 0, BatchSize)
	return &b
}}

// NewBatch returns an empty batch with room for BatchSize entries.
func NewBatch() []Entry { return (*batches.Get().(*[]Entry))[:0] }

// Recycle gives back a batch that is no longer used, for NewBatch to hand
// out again; its entries are cleared so that it holds on to nothing.
func Recycle(b []Entry) {
	if cap(b) < BatchSize {
		return
	}
	clear(b)
	b = b[:0]
	batches.Put(&b)
}
