package file

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// replayed is what Replay hands fn: a line number and its message.
type replayed struct {
	n   int
	msg string
}

func replayAll(t *testing.T, data []byte, maxLine int) ([]replayed, int) {
	t.Helper()
	var got []replayed
	lines, skipped, err := Replay(bytes.NewReader(data), maxLine, func(n int, msg string) error {
		got = append(got, replayed{n, msg})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		want++ // a last line without a newline
	}
	if lines != want {
		t.Fatalf("%d lines, want %d", lines, want)
	}
	return got, skipped
}

func TestReplay(t *testing.T) {
	long := strings.Repeat("x", 40)
	binary := "\xff\x00\xfe" + strings.Repeat("\x01", 40)
	for _, tc := range []struct {
		name    string
		data    string
		want    []replayed
		skipped int
	}{
		{"lines", "a\nb\r\n", []replayed{{1, "a"}, {2, "b"}}, 0},
		{"last line without newline", "a\nb", []replayed{{1, "a"}, {2, "b"}}, 0},
		{"empty lines keep their numbers", "\n\nc\n", []replayed{{1, ""}, {2, ""}, {3, "c"}}, 0},
		{"long line skipped, numbers go on", "a\n" + long + "\nc\n", []replayed{{1, "a"}, {3, "c"}}, 1},
		{"long binary line skipped", binary + "\nok\n", []replayed{{2, "ok"}}, 1},
		{"long last line skipped", "a\n" + long, []replayed{{1, "a"}}, 1},
		{"short binary line sanitised", "\xff\x00z\n", []replayed{{1, "\ufffdz"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped := replayAll(t, []byte(tc.data), 20)
			if !slices.Equal(got, tc.want) || skipped != tc.skipped {
				t.Fatalf("got %+v, %d skipped; want %+v, %d", got, skipped, tc.want, tc.skipped)
			}
		})
	}
}

func TestReplayStopsAtFnError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	_, _, err := Replay(strings.NewReader("a\nb\nc\n"), 0, func(int, string) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err %v after %d calls, want stop after 1", err, calls)
	}
}

// FuzzReplay checks Replay against the reference of FuzzLines: the
// complete lines the file source delivers, in order, and the same count of
// skipped ones (a last line without newline aside).
func FuzzReplay(f *testing.F) {
	f.Add([]byte("a\nb\n"))
	f.Add([]byte("0123456789012345678901234\nshort\n\xff\x00\r\nlast"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxLine = 20
		complete := data[:bytes.LastIndexByte(data, '\n')+1]
		got, skipped := replayAll(t, complete, maxLine)
		want, wantSkipped := wantLines(complete, maxLine)
		msgs := make([]string, len(got))
		for i, r := range got {
			msgs[i] = r.msg
			if i > 0 && r.n <= got[i-1].n {
				t.Fatalf("line numbers not increasing: %v", got)
			}
		}
		if !slices.Equal(msgs, want) || uint64(skipped) != wantSkipped {
			t.Fatalf("got %q (%d skipped), want %q (%d)", msgs, skipped, want, wantSkipped)
		}
	})
}
