package match

import (
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
)

func TestRecognisedFailure(t *testing.T) {
	at := time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC)
	read := at.Add(time.Minute)
	addr := netip.MustParseAddr("2001:db8::7")
	for _, tc := range []struct {
		name string
		e    ingest.Entry
		want time.Time
	}{
		{"the entry's time", ingest.Entry{Time: at, ReadAt: read}, at},
		{"the read time without one", ingest.Entry{ReadAt: read}, read},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.e.Message = "sshd banned 2001:db8::7"
			tc.e.Recognised = &ingest.Recognised{Addr: addr, User: "root"}
			f := RecognisedFailure("recidive", &tc.e)
			if f.Pipeline != "recidive" || f.Addr != addr || f.ID != "2001:db8::7" || !f.Time.Equal(tc.want) || f.User != "root" || f.Line != tc.e.Message {
				t.Fatalf("failure %+v, want one of %s at %s", f, addr, tc.want)
			}
		})
	}
}
