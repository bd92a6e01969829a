package nats

import (
	"encoding/binary"
	"fmt"
	"math"

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

// allRecords marks a message committed whole.
const allRecords = math.MaxInt

// loadCommitted reads the sequences committed by earlier runs, each with
// how many of its records are committed: allRecords, or for a batch whose
// entries were committed in more than one group, the records before the
// first one not committed yet.
func (s *Source) loadCommitted() (map[uint64]int, error) {
	out := map[uint64]int{}
	if s.positions == nil || s.cfg.JetStream == nil {
		return out, nil
	}
	for slot := uint64(0); slot < committedRing; slot++ {
		v, err := s.positions.Position(s.slotKey(slot))
		if err != nil {
			return nil, err
		}
		switch len(v) {
		case 8:
			out[binary.BigEndian.Uint64(v)] = allRecords
		case 16:
			if n := binary.BigEndian.Uint64(v[8:]); n <= maxBatchRecords {
				out[binary.BigEndian.Uint64(v)] = int(n)
			}
		}
	}
	return out, nil
}

// committedPos is the position the last entry of stream sequence seq
// carries: the whole message is committed with it.
func (s *Source) committedPos(seq uint64) ingest.Position {
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, seq)
	return ingest.Position{Key: s.slotKey(seq), Value: v}
}

// partPos is the position an entry of a batch other than its last carries:
// the records of seq before index n are committed with it. Without it, a
// crash between two commits of one batch would count the records of the
// first commit again when the batch is redelivered.
func (s *Source) partPos(seq uint64, n int) ingest.Position {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, seq)
	binary.BigEndian.PutUint64(v[8:], uint64(n))
	return ingest.Position{Key: s.slotKey(seq), Value: v}
}
