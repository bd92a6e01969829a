package nats

import (
	"encoding/binary"
	"fmt"

	"github.com/logjail/logjail/ingest"
)

// committedRing is the number of position slots a JetStream source keeps:
// each processed message's stream sequence is committed, with the state it
// produced, in slot seq % committedRing. It is far above MaxAckPending, so
// every message the server may still redeliver has its slot.
const committedRing = 16384

// UsePositions gives a JetStream source the committed positions. With
// them, a message whose effects were committed but whose acknowledgement
// never reached the server (a crash in between) is recognised when it is
// redelivered and acknowledged without being counted again.
func (s *Source) UsePositions(p ingest.Positions) { s.positions = p }

// slotKey is the position key of a stream sequence's slot.
func (s *Source) slotKey(seq uint64) string {
	js := s.cfg.JetStream
	return fmt.Sprintf("jetstream:%s/%s/%d", js.Stream, js.Durable, seq%committedRing)
}

// loadCommitted reads the sequences committed by earlier runs.
func (s *Source) loadCommitted() (map[uint64]bool, error) {
	out := map[uint64]bool{}
	if s.positions == nil || s.cfg.JetStream == nil {
		return out, nil
	}
	for slot := uint64(0); slot < committedRing; slot++ {
		v, err := s.positions.Position(s.slotKey(slot))
		if err != nil {
			return nil, err
		}
		if len(v) == 8 {
			out[binary.BigEndian.Uint64(v)] = true
		}
	}
	return out, nil
}

// committedPos is the position an entry of stream sequence seq carries.
func (s *Source) committedPos(seq uint64) ingest.Position {
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, seq)
	return ingest.Position{Key: s.slotKey(seq), Value: v}
}
