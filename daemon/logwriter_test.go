package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// A LogWriter holds lines back (no write per line), and lets them out on
// its timer, when its buffer fills, on Flush and on Close; after Close it
// writes through.
func TestLogWriter(t *testing.T) {
	const line = "level=INFO msg=ban addr=192.0.2.1\n"
	for _, tc := range []struct {
		name string
		// then does what lets the line out (nil: the timer does).
		then func(*LogWriter)
		// more is written after the line, at once.
		more string
	}{
		{"on the timer", nil, ""},
		{"on Flush", func(l *LogWriter) { l.Flush() }, ""},
		{"on Close", func(l *LogWriter) { l.Close() }, ""},
		{"when the buffer is full", nil, strings.Repeat("x", logBufferSize)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &testkit.LogBuffer{}
			l := NewLogWriter(out)
			defer l.Close()
			started := time.Now()
			l.Write([]byte(line))
			if tc.more == "" && tc.then == nil && out.String() != "" && time.Since(started) < logFlushEvery {
				t.Fatalf("written through at once: %q", out.String())
			}
			l.Write([]byte(tc.more))
			if tc.then != nil {
				tc.then(l)
				if got := out.String(); got != line {
					t.Fatalf("got %q, want the line", got)
				}
				return
			}
			if tc.more != "" && !strings.HasPrefix(out.String(), line) {
				t.Fatalf("a full buffer is held: %d bytes out", len(out.String()))
			}
			testkit.WaitFor(t, 5*time.Second, func() error {
				return testkit.Check(strings.HasPrefix(out.String(), line), "nothing written yet: %q", out.String())
			})
		})
	}
	out := &testkit.LogBuffer{}
	l := NewLogWriter(out)
	l.Close()
	l.Write([]byte(line))
	if out.String() != line {
		t.Errorf("after Close: %q, want the line written through", out.String())
	}
}
