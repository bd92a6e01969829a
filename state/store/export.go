package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Export and import of the state: one JSON document holding every record
// of the store, for backups and for moving logjail to another host.
//
//	{
//	  "logjail_state": 1,                          // ExportVersion
//	  "exported_at": "2025-01-02T03:04:05.123Z",
//	  "bans": [                                    // the active bans
//	    {"pipeline": "sshd", "prefix": "192.0.2.7/32", "time": "…", "until": "…",
//	     "failures": 5, "ban_count": 1, "reason": "5 failures in 10m0s"}
//	  ],                                           // until: null for a permanent ban
//	  "history": [                                 // the ban history (bantime_increment)
//	    {"pipeline": "sshd", "prefix": "192.0.2.7/32", "count": 1, "last": "…", "bantime_s": 600}
//	  ],                                           // bantime_s: -1 for a permanent ban
//	  "windows": [                                 // failures being counted
//	    {"pipeline": "sshd", "key": "198.51.100.4", "times": ["…", "…"]}
//	  ],
//	  "positions": [                               // where each source was read up to
//	    {"pipeline": "sshd", "key": "/var/log/auth.log", "value": "<base64>"}
//	  ]
//	}
//
// Times are RFC 3339 with nanoseconds, written in UTC. A prefix is an
// address and its length; a window's key is the address (or the masked
// address of the prefix) failures are counted by. A position belongs to the
// pipeline reading the source, keyed by the source's own key (a file's path,
// the journal); its value is opaque to everyone but the source. When
// pipeline and key cannot show the stored key exactly (it is not valid
// UTF-8, or has no pipeline), key_base64 holds it verbatim, and an import
// uses it; pipeline and key are then for reading only.
//
// Records are written one per line, in the store's order, so that two
// exports of the same state are identical but for exported_at.

// ExportVersion is the version of the export document this build writes,
// and the newest it imports.
const ExportVersion = 1

// The records of the document.

type exportBan struct {
	Pipeline string   `json:"pipeline"`
	Prefix   string   `json:"prefix"`
	Time     string   `json:"time"`
	Until    nullable `json:"until"` // null: permanent
	Failures int      `json:"failures"`
	BanCount int      `json:"ban_count"`
	Reason   string   `json:"reason"`
}

// nullable is a string or null that must be present.
type nullable struct {
	set bool
	v   *string
}

func (n nullable) MarshalJSON() ([]byte, error) { return json.Marshal(n.v) }

func (n *nullable) UnmarshalJSON(b []byte) error {
	n.set = true
	return json.Unmarshal(b, &n.v)
}

type exportHistory struct {
	Pipeline string  `json:"pipeline"`
	Prefix   string  `json:"prefix"`
	Count    int     `json:"count"`
	Last     string  `json:"last"`
	BanTimeS float64 `json:"bantime_s"` // -1: permanent
}

type exportWindow struct {
	Pipeline string   `json:"pipeline"`
	Key      string   `json:"key"`
	Times    []string `json:"times"`
}

type exportPosition struct {
	Pipeline  string `json:"pipeline"`
	Key       string `json:"key"`
	KeyBase64 []byte `json:"key_base64,omitempty"` // the stored key, when pipeline and key cannot show it
	Value     []byte `json:"value"`                // base64
}

func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Export writes every record of the store as one JSON document (see
// ExportVersion for the schema). The records are read in one read
// transaction, a consistent view even while logjail runs, and the
// transaction ends before the document is written, so a slow reader does
// not hold back the store's writers.
func (s *Store) Export(w io.Writer) error {
	var doc exportDoc
	if err := s.view(doc.read); err != nil {
		return err
	}
	return doc.write(w)
}

// exportDoc holds the records of an export, read from the store.
type exportDoc struct {
	bans      []exportBan
	history   []exportHistory
	windows   []exportWindow
	positions []exportPosition
}

// read collects every record. An unreadable ban or window fails the
// export; an unreadable history record is left out, as Count ignores it.
func (d *exportDoc) read(tx *bolt.Tx) error {
	for _, b := range []struct {
		name []byte
		add  func(k, v []byte) error
	}{
		{bucketBans, d.addBan},
		{bucketHistory, d.addHistory},
		{bucketWindows, d.addWindow},
		{bucketPositions, d.addPosition},
	} {
		if bucket := tx.Bucket(b.name); bucket != nil {
			if err := bucket.ForEach(b.add); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *exportDoc) addBan(k, v []byte) error {
	r, err := decodeBan(v)
	if err != nil {
		return fmt.Errorf("ban record %q: %w", k, err)
	}
	e := exportBan{Pipeline: r.Pipeline, Prefix: r.Prefix.String(), Time: timeText(r.Time), Failures: r.Failures, BanCount: r.BanCount, Reason: r.Reason}
	if !r.Until.IsZero() {
		u := timeText(r.Until)
		e.Until.v = &u
	}
	d.bans = append(d.bans, e)
	return nil
}

func (d *exportDoc) addHistory(k, v []byte) error {
	name, p, ok := parseHistoryKey(k)
	r, err := decodeHistory(v)
	if !ok || err != nil {
		return nil // unreadable: as if absent, as for Count
	}
	d.history = append(d.history, exportHistory{Pipeline: name, Prefix: p.String(), Count: r.Count, Last: timeText(r.Last), BanTimeS: r.BanTimeS})
	return nil
}

func (d *exportDoc) addWindow(k, v []byte) error {
	name, rest, ok := bytes.Cut(k, []byte{0})
	if !ok || len(rest) != 16 || len(v)%8 != 0 {
		return fmt.Errorf("window record %q: %d bytes", k, len(v))
	}
	e := exportWindow{Pipeline: string(name), Key: netip.AddrFrom16([16]byte(rest)).Unmap().String(), Times: []string{}}
	for _, t := range decodeTimes(v) {
		e.Times = append(e.Times, timeText(time.Unix(0, t)))
	}
	d.windows = append(d.windows, e)
	return nil
}

func (d *exportDoc) addPosition(k, v []byte) error {
	name, key, ok := bytes.Cut(k, []byte{0})
	e := exportPosition{Pipeline: string(name), Key: string(key), Value: bytes.Clone(v)}
	if e.Value == nil {
		e.Value = []byte{}
	}
	if !ok || len(name) == 0 || !utf8.Valid(k) {
		// Not shown exactly by pipeline and key: the stored key.
		e.Pipeline = strings.ToValidUTF8(string(name), "\uFFFD")
		e.Key = strings.ToValidUTF8(string(key), "\uFFFD")
		if !ok {
			e.Pipeline, e.Key = "", strings.ToValidUTF8(string(k), "\uFFFD")
		}
		e.KeyBase64 = bytes.Clone(k)
	}
	d.positions = append(d.positions, e)
	return nil
}

// write writes the document, its records one per line.
func (d *exportDoc) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "{\n  \"logjail_state\": %d,\n  \"exported_at\": %q,\n", ExportVersion, timeText(time.Now()))
	if err := writeSection(bw, "bans", d.bans, false); err != nil {
		return err
	}
	if err := writeSection(bw, "history", d.history, false); err != nil {
		return err
	}
	if err := writeSection(bw, "windows", d.windows, false); err != nil {
		return err
	}
	if err := writeSection(bw, "positions", d.positions, true); err != nil {
		return err
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// writeSection writes `"name": [` and the records, one per line.
func writeSection[T any](w *bufio.Writer, name string, records []T, last bool) error {
	fmt.Fprintf(w, "  %q: [", name)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i, r := range records {
		buf.Reset()
		if err := enc.Encode(r); err != nil {
			return err
		}
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString("\n    ")
		w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	if len(records) > 0 {
		w.WriteString("\n  ")
	}
	w.WriteString("]")
	if !last {
		w.WriteByte(',')
	}
	_, err := w.WriteString("\n")
	return err
}
