package store

import (
	"fmt"
	"testing"
)

func TestOutbox(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(sink string, i int) OutboxRecord {
		return OutboxRecord{Sink: sink, Subject: "logjail.bans.sshd", MsgID: fmt.Sprint(i), Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	var c Changes
	for i := range 5 {
		c.Outbox = append(c.Outbox, rec("a", i))
	}
	c.Outbox = append(c.Outbox, rec("b", 100))
	if err := s.Commit("sshd", &c); err != nil {
		t.Fatal(err)
	}
	if n := s.OutboxLen("a"); n != 5 {
		t.Fatalf("len a = %d, want 5", n)
	}
	items, err := s.OutboxPeek("a", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 || items[0].MsgID != "0" || items[2].MsgID != "2" || string(items[1].Data) != `{"n":1}` || items[1].Sink != "a" {
		t.Fatalf("peek = %+v", items)
	}
	if err := s.OutboxDelete("a", items[2].Seq); err != nil {
		t.Fatal(err)
	}
	// Survives a reopen, in order, with what was not deleted.
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	items, _ = s.OutboxPeek("a", 10)
	if len(items) != 2 || items[0].MsgID != "3" || items[1].MsgID != "4" {
		t.Fatalf("after reopen: %+v", items)
	}
	if items, _ := s.OutboxPeek("b", 10); len(items) != 1 || items[0].MsgID != "100" {
		t.Fatalf("sink b: %+v", items)
	}
	if items, _ := s.OutboxPeek("none", 10); len(items) != 0 {
		t.Fatalf("unknown sink: %+v", items)
	}
	if got := s.OutboxSinks(""); len(got) != 2 || got["a"] != 2 || got["b"] != 1 {
		t.Fatalf("sinks = %v", got)
	}
	if got := s.OutboxSinks("b"); len(got) != 1 {
		t.Fatalf("sinks b* = %v", got)
	}
}

func TestOutboxLimitDropsOldest(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetOutboxLimit("a", 3)
	for i := range 5 {
		c := Changes{Outbox: []OutboxRecord{{Sink: "a", Subject: "x", MsgID: fmt.Sprint(i)}}}
		if err := s.Commit("p", &c); err != nil {
			t.Fatal(err)
		}
	}
	items, _ := s.OutboxPeek("a", 10)
	if len(items) != 3 || items[0].MsgID != "2" || items[2].MsgID != "4" {
		t.Fatalf("items = %+v", items)
	}
	if d := s.OutboxDropped("a"); d != 2 {
		t.Fatalf("dropped = %d, want 2", d)
	}
	if n := s.OutboxLen("a"); n != 3 {
		t.Fatalf("len = %d", n)
	}
}
