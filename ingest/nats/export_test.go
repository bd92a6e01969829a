package nats

import (
	"log/slog"
	"time"

	"github.com/logjail/logjail/ingest"
)

// DecodePayload decodes a payload as a Source without a Decode hook does,
// for the external tests.
func DecodePayload(data []byte, now time.Time) (ingest.Entry, bool) {
	s, err := New(Config{URL: "nats://127.0.0.1:4222", Subject: "x"}, slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	return s.entry(data, now)
}
