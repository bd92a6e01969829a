package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The outbox keeps messages for NATS (ban events, fleet failures) on disk
// until the server has them. They are written in the commit of the state
// that produced them (Changes.Outbox) and deleted once published, so
// neither a crash nor an unreachable server loses one.
var bucketOutbox = []byte("outbox")

// DefaultOutboxLimit bounds a sink's backlog when no limit is set.
const DefaultOutboxLimit = 100_000

// OutboxRecord is one message waiting to be published.
type OutboxRecord struct {
	// Sink names the publisher that sends it; every sink has its own
	// queue.
	Sink    string            `json:"-"`
	Subject string            `json:"subject"`
	MsgID   string            `json:"msg_id,omitempty"`
	Header  map[string]string `json:"header,omitempty"`
	Data    []byte            `json:"data"`
}

// OutboxItem is a stored record with its place in the sink's queue.
type OutboxItem struct {
	Seq uint64
	OutboxRecord
}

type outboxLimits struct {
	mu      sync.Mutex
	limit   map[string]int
	dropped map[string]uint64
}

// SetOutboxLimit bounds a sink's queue: when a commit would exceed n
// records, the oldest are dropped and counted (OutboxDropped).
func (s *Store) SetOutboxLimit(sink string, n int) {
	s.outbox.mu.Lock()
	defer s.outbox.mu.Unlock()
	if s.outbox.limit == nil {
		s.outbox.limit = map[string]int{}
	}
	s.outbox.limit[sink] = n
}

// OutboxDropped is how many records of sink were dropped for its limit
// since the store was opened.
func (s *Store) OutboxDropped(sink string) uint64 {
	s.outbox.mu.Lock()
	defer s.outbox.mu.Unlock()
	return s.outbox.dropped[sink]
}

func (s *Store) outboxLimit(sink string) int {
	s.outbox.mu.Lock()
	defer s.outbox.mu.Unlock()
	if n, ok := s.outbox.limit[sink]; ok && n > 0 {
		return n
	}
	return DefaultOutboxLimit
}

func (s *Store) countDropped(sink string, n uint64) {
	s.outbox.mu.Lock()
	defer s.outbox.mu.Unlock()
	if s.outbox.dropped == nil {
		s.outbox.dropped = map[string]uint64{}
	}
	s.outbox.dropped[sink] += n
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// appendOutbox queues records within a commit's transaction.
func (s *Store) appendOutbox(tx *bolt.Tx, recs []OutboxRecord) error {
	if len(recs) == 0 {
		return nil
	}
	root := tx.Bucket(bucketOutbox)
	touched := map[string]*bolt.Bucket{}
	for _, r := range recs {
		if r.Sink == "" {
			return fmt.Errorf("outbox record for %q without a sink", r.Subject)
		}
		b := touched[r.Sink]
		if b == nil {
			var err error
			if b, err = root.CreateBucketIfNotExists([]byte(r.Sink)); err != nil {
				return err
			}
			touched[r.Sink] = b
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(seq), v); err != nil {
			return err
		}
	}
	// Records are appended at the end and deleted from the front, so the
	// keys are contiguous and the length is last−first+1.
	for sink, b := range touched {
		limit := s.outboxLimit(sink)
		c := b.Cursor()
		first, _ := c.First()
		last, _ := c.Last()
		n := binary.BigEndian.Uint64(last) - binary.BigEndian.Uint64(first) + 1
		if n <= uint64(limit) {
			continue
		}
		over := n - uint64(limit)
		for k, _ := c.First(); k != nil && over > 0; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			over--
		}
		s.countDropped(sink, n-uint64(limit))
	}
	return nil
}

// OutboxPeek returns up to max records of sink, oldest first.
func (s *Store) OutboxPeek(sink string, max int) ([]OutboxItem, error) {
	var out []OutboxItem
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox).Bucket([]byte(sink))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			it := OutboxItem{Seq: binary.BigEndian.Uint64(k)}
			if err := json.Unmarshal(v, &it.OutboxRecord); err != nil {
				return fmt.Errorf("outbox %s record %d: %w", sink, it.Seq, err)
			}
			it.Sink = sink
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// OutboxDelete removes the records of sink up to and including seq (they
// were published).
func (s *Store) OutboxDelete(sink string, seq uint64) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox).Bucket([]byte(sink))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// OutboxLen is the number of records of sink waiting.
func (s *Store) OutboxLen(sink string) int {
	n := 0
	_ = s.view(func(tx *bolt.Tx) error {
		n = s.outboxLen(tx, sink)
		return nil
	})
	return n
}

func (s *Store) outboxLen(tx *bolt.Tx, sink string) int {
	b := tx.Bucket(bucketOutbox).Bucket([]byte(sink))
	if b == nil {
		return 0
	}
	c := b.Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	if first == nil {
		return 0
	}
	return int(binary.BigEndian.Uint64(last) - binary.BigEndian.Uint64(first) + 1)
}

// OutboxSinks lists the sinks whose names start with prefix and that hold
// records, with their counts.
func (s *Store) OutboxSinks(prefix string) map[string]int {
	out := map[string]int{}
	_ = s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEachBucket(func(k []byte) error {
			if name := string(k); strings.HasPrefix(name, prefix) {
				if n := s.outboxLen(tx, name); n > 0 {
					out[name] = n
				}
			}
			return nil
		})
	})
	return out
}
