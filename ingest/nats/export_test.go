package nats

import (
	"log/slog"
	"time"

	"github.com/logjail/logjail/ingest"
)

// DecodePayload decodes a payload as a Source without a Decode hook does,
// for the external tests: its entries, one per record of a batch.
func DecodePayload(data []byte, now time.Time) []ingest.Entry {
	s, err := New(Config{URL: "nats://127.0.0.1:4222", Subject: "x"}, slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	var out []ingest.Entry
	for _, d := range s.entries(data, now, 0) {
		out = append(out, d.Entry)
	}
	return out
}

// entry decodes a payload of one entry; ok is false when it is skipped. A
// batch gives its first entry.
func (s *Source) entry(data []byte, now time.Time) (ingest.Entry, bool) {
	ds := s.entries(data, now, 0)
	if len(ds) == 0 {
		return ingest.Entry{}, false
	}
	return ds[0].Entry, true
}
