package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
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

// ErrLocked is returned when the store is open in another process: a
// running logjail.
var ErrLocked = errors.New("state store locked by another process")

// OpenReadOnly opens an existing store for reading only, as Export
// needs. It fails with ErrLocked while a logjail has the store open.
func OpenReadOnly(dir string) (*Store, error) {
	path := filepath.Join(dir, "logjail.db")
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no state store in %s", dir)
		}
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	db, err := openBolt(path, true)
	if err != nil {
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	err = recoverBolt(func() error {
		return db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil {
				return errors.New("no version: not a logjail store")
			}
			if v := meta.Get(keyVersion); string(v) != strconv.Itoa(Version) {
				return fmt.Errorf("%w: %q (this logjail reads version %d)", ErrVersion, v, Version)
			}
			return nil
		})
	})
	if err != nil {
		s := &Store{db: db, path: path}
		s.closeBroken()
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

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
	var (
		bans      []exportBan
		history   []exportHistory
		windows   []exportWindow
		positions []exportPosition
	)
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketBans); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				var r storedBan
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("ban record %q: %w", k, err)
				}
				if _, err := netip.ParsePrefix(r.Prefix); err != nil {
					return fmt.Errorf("ban record %q: %w", k, err)
				}
				e := exportBan{Pipeline: r.Pipeline, Prefix: r.Prefix, Time: timeText(r.Time), Failures: r.Failures, BanCount: r.BanCount, Reason: r.Reason}
				if !r.Until.IsZero() {
					u := timeText(r.Until)
					e.Until.v = &u
				}
				bans = append(bans, e)
				return nil
			})
			if err != nil {
				return err
			}
		}
		if b := tx.Bucket(bucketHistory); b != nil {
			_ = b.ForEach(func(k, v []byte) error {
				name, p, ok := parseHistoryKey(k)
				var r storedHistory
				if !ok || json.Unmarshal(v, &r) != nil {
					return nil // unreadable: as if absent, as for Count
				}
				history = append(history, exportHistory{Pipeline: name, Prefix: p.String(), Count: r.Count, Last: timeText(r.Last), BanTimeS: r.BanTimeS})
				return nil
			})
		}
		if b := tx.Bucket(bucketWindows); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				name, rest, ok := bytes.Cut(k, []byte{0})
				if !ok || len(rest) != 16 || len(v)%8 != 0 {
					return fmt.Errorf("window record %q: %d bytes", k, len(v))
				}
				e := exportWindow{Pipeline: string(name), Key: netip.AddrFrom16([16]byte(rest)).Unmap().String(), Times: []string{}}
				for i := 0; i < len(v); i += 8 {
					e.Times = append(e.Times, timeText(time.Unix(0, int64(binary.BigEndian.Uint64(v[i:])))))
				}
				windows = append(windows, e)
				return nil
			})
			if err != nil {
				return err
			}
		}
		if b := tx.Bucket(bucketPositions); b != nil {
			_ = b.ForEach(func(k, v []byte) error {
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
				positions = append(positions, e)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return err
	}

	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "{\n  \"logjail_state\": %d,\n  \"exported_at\": %q,\n", ExportVersion, timeText(time.Now()))
	if err := writeSection(bw, "bans", bans, false); err != nil {
		return err
	}
	if err := writeSection(bw, "history", history, false); err != nil {
		return err
	}
	if err := writeSection(bw, "windows", windows, false); err != nil {
		return err
	}
	if err := writeSection(bw, "positions", positions, true); err != nil {
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

// ImportStats counts what an import did.
type ImportStats struct {
	// Bans, History, Windows and Positions count the document's records
	// written to the store (merged with the store's, for history and
	// windows).
	Bans      int `json:"bans"`
	History   int `json:"history"`
	Windows   int `json:"windows"`
	Positions int `json:"positions"`
	// Kept counts the document's bans and positions not written because
	// the store's own record was kept (a merge: a ban of the store that
	// lasts at least as long; the store's position of a source).
	Kept int `json:"kept"`
	// Replaced is true when the store's records were dropped first.
	Replaced bool `json:"replaced"`
	// Pipelines lists the pipelines of the document's records.
	Pipelines []string `json:"pipelines"`
}

// A validated document, ready to write.
type importDoc struct {
	bans      []state.Decision
	history   []HistoryRecord
	historyS  []storedHistory
	windows   []importWindow
	positions []importPosition
	pipelines []string
}

type importWindow struct {
	key   []byte
	times []int64
}

type importPosition struct {
	key, value []byte
}

// Import reads an export document (see ExportVersion) into s. The
// whole document is checked first; a bad record is an error naming it
// ("bans[3]: prefix \"x\": …") and nothing is written. Then every record is
// written in one transaction. With replace, the store's bans, history,
// windows and positions are dropped first (a restore). Otherwise the
// document is merged into the store: of a ban in both, the one that ends
// later is kept (a permanent ban ends last); history records keep the
// higher count and the newer ban; windows keep the failure times of both;
// a position in both keeps the store's (the sources of this host). Every
// ban written counts in the ban history, as when it was decided.
//
// A document of a newer format is refused: it needs a newer logjail.
func Import(r io.Reader, s *Store, replace bool) (ImportStats, error) {
	doc, err := readExport(r)
	if err != nil {
		return ImportStats{}, err
	}
	st := ImportStats{Replaced: replace, Pipelines: doc.pipelines}
	err = s.update(func(tx *bolt.Tx) error {
		if replace {
			for _, name := range [][]byte{bucketBans, bucketHistory, bucketWindows, bucketPositions} {
				if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
					return err
				}
				if _, err := tx.CreateBucket(name); err != nil {
					return err
				}
			}
		}
		hb := tx.Bucket(bucketHistory)
		for i, h := range doc.history {
			r := doc.historyS[i]
			k := historyKey(h.Pipeline, h.Prefix)
			var old storedHistory
			if v := hb.Get(k); v != nil && json.Unmarshal(v, &old) == nil {
				count := max(old.Count, r.Count)
				if !r.Last.After(old.Last) {
					r = old
				}
				r.Count = count
			}
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := hb.Put(k, v); err != nil {
				return err
			}
			st.History++
		}
		bb := tx.Bucket(bucketBans)
		for _, d := range doc.bans {
			var old storedBan
			if v := bb.Get(banKey(d.Pipeline, d.Prefix)); v != nil && json.Unmarshal(v, &old) == nil && !endsLater(d.Until, old.Until) {
				st.Kept++
				continue
			}
			if err := saveBan(tx, d); err != nil {
				return err
			}
			st.Bans++
		}
		wb := tx.Bucket(bucketWindows)
		for _, w := range doc.windows {
			times := w.times
			if v := wb.Get(w.key); v != nil && len(v)%8 == 0 {
				for i := 0; i < len(v); i += 8 {
					times = append(times, int64(binary.BigEndian.Uint64(v[i:])))
				}
				times = slices.Clone(times)
				slices.Sort(times)
				times = slices.Compact(times)
			}
			v := make([]byte, 8*len(times))
			for i, t := range times {
				binary.BigEndian.PutUint64(v[8*i:], uint64(t))
			}
			if err := wb.Put(w.key, v); err != nil {
				return err
			}
			st.Windows++
		}
		pb := tx.Bucket(bucketPositions)
		for _, p := range doc.positions {
			if !replace && pb.Get(p.key) != nil {
				st.Kept++
				continue
			}
			if err := pb.Put(p.key, p.value); err != nil {
				return err
			}
			st.Positions++
		}
		return nil
	})
	if err != nil {
		return ImportStats{}, fmt.Errorf("importing into %s: %w", s.path, err)
	}
	return st, nil
}

// CheckExport reads and checks an export document without importing it;
// the counts are those of the document's records.
func CheckExport(r io.Reader) (ImportStats, error) {
	doc, err := readExport(r)
	if err != nil {
		return ImportStats{}, err
	}
	return ImportStats{Bans: len(doc.bans), History: len(doc.history), Windows: len(doc.windows), Positions: len(doc.positions), Pipelines: doc.pipelines}, nil
}

// endsLater reports whether a ban until a ends after one until b (zero:
// permanent, the latest).
func endsLater(a, b time.Time) bool {
	switch {
	case b.IsZero():
		return false
	case a.IsZero():
		return true
	}
	return a.After(b)
}

// readExport decodes and checks a whole document.
func readExport(r io.Reader) (*importDoc, error) {
	dec := json.NewDecoder(r)
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("not a logjail state export: %s", jsonError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not a logjail state export: data after the document")
	}
	raw, ok := top["logjail_state"]
	if !ok {
		return nil, errors.New(`not a logjail state export: no "logjail_state" version`)
	}
	var version int
	if err := json.Unmarshal(raw, &version); err != nil || version < 1 {
		return nil, fmt.Errorf("logjail_state: %s is not a format version", raw)
	}
	if version > ExportVersion {
		return nil, fmt.Errorf("the export is of format %d, written by a newer logjail; this logjail imports format %d at most: upgrade logjail to import it", version, ExportVersion)
	}
	for k := range top {
		switch k {
		case "logjail_state", "exported_at", "bans", "history", "windows", "positions":
		default:
			return nil, fmt.Errorf("unknown field %q (format %d has logjail_state, exported_at, bans, history, windows, positions)", k, ExportVersion)
		}
	}
	if raw, ok := top["exported_at"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("exported_at: %s is not a time", raw)
		}
		if _, err := parseTime(s); err != nil {
			return nil, fmt.Errorf("exported_at: %w", err)
		}
	}
	doc := &importDoc{}
	pipelines := map[string]bool{}

	var bans []exportBan
	if err := section(top, "bans", &bans); err != nil {
		return nil, err
	}
	seen := map[string]int{}
	for i, b := range bans {
		d, err := b.decision()
		if err != nil {
			return nil, fmt.Errorf("bans[%d]: %w", i, err)
		}
		k := string(banKey(d.Pipeline, d.Prefix))
		if j, dup := seen[k]; dup {
			return nil, fmt.Errorf("bans[%d]: pipeline %s, prefix %s again (as bans[%d])", i, d.Pipeline, d.Prefix, j)
		}
		seen[k] = i
		pipelines[d.Pipeline] = true
		doc.bans = append(doc.bans, d)
	}

	var history []exportHistory
	if err := section(top, "history", &history); err != nil {
		return nil, err
	}
	clear(seen)
	for i, h := range history {
		rec, stored, err := h.record()
		if err != nil {
			return nil, fmt.Errorf("history[%d]: %w", i, err)
		}
		k := string(historyKey(rec.Pipeline, rec.Prefix))
		if j, dup := seen[k]; dup {
			return nil, fmt.Errorf("history[%d]: pipeline %s, prefix %s again (as history[%d])", i, rec.Pipeline, rec.Prefix, j)
		}
		seen[k] = i
		pipelines[rec.Pipeline] = true
		doc.history = append(doc.history, rec)
		doc.historyS = append(doc.historyS, stored)
	}

	var windows []exportWindow
	if err := section(top, "windows", &windows); err != nil {
		return nil, err
	}
	clear(seen)
	for i, w := range windows {
		iw, err := w.window()
		if err != nil {
			return nil, fmt.Errorf("windows[%d]: %w", i, err)
		}
		if j, dup := seen[string(iw.key)]; dup {
			return nil, fmt.Errorf("windows[%d]: pipeline %s, key %s again (as windows[%d])", i, w.Pipeline, w.Key, j)
		}
		seen[string(iw.key)] = i
		pipelines[w.Pipeline] = true
		doc.windows = append(doc.windows, iw)
	}

	var positions []exportPosition
	if err := section(top, "positions", &positions); err != nil {
		return nil, err
	}
	clear(seen)
	for i, p := range positions {
		ip, err := p.position()
		if err != nil {
			return nil, fmt.Errorf("positions[%d]: %w", i, err)
		}
		if j, dup := seen[string(ip.key)]; dup {
			return nil, fmt.Errorf("positions[%d]: pipeline %s, key %q again (as positions[%d])", i, p.Pipeline, p.Key, j)
		}
		seen[string(ip.key)] = i
		if name, _, ok := bytes.Cut(ip.key, []byte{0}); ok {
			pipelines[string(name)] = true
		}
		doc.positions = append(doc.positions, ip)
	}
	for name := range pipelines {
		doc.pipelines = append(doc.pipelines, name)
	}
	slices.Sort(doc.pipelines)
	return doc, nil
}

// section decodes the records of one section (absent: none), each on its
// own so that an error names the record.
func section[T any](top map[string]json.RawMessage, name string, out *[]T) error {
	raw, ok := top[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	var records []json.RawMessage
	if err := json.Unmarshal(raw, &records); err != nil {
		return fmt.Errorf("%s: not a list of records", name)
	}
	for i, r := range records {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		var v T
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%s[%d]: %s", name, i, jsonError(err))
		}
		*out = append(*out, v)
	}
	return nil
}

// jsonError words a decoding error without Go's type names.
func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("a JSON %s where %s is expected", te.Value, kindOf(te.Type.Kind().String()))
		}
		return fmt.Sprintf("%s: a JSON %s where %s is expected", te.Field, te.Value, kindOf(te.Type.Kind().String()))
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func kindOf(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "float"):
		return "a number"
	case k == "struct", k == "map":
		return "an object"
	case k == "slice":
		return "a list"
	case k == "ptr":
		return "a string or null"
	}
	return "a " + k
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t, nil
}

func checkPipeline(name string) error {
	if name == "" {
		return errors.New("no pipeline")
	}
	if strings.ContainsRune(name, 0) {
		return fmt.Errorf("pipeline %q: contains a NUL", name)
	}
	return nil
}

// parsePrefix reads a prefix (or a single address) into its canonical form.
func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("no prefix")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || strings.Contains(s, "/") {
			return netip.Prefix{}, fmt.Errorf("prefix %q: %w", s, err)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("prefix %q: has a zone", s)
	}
	return gate.Canonical(p), nil
}

func (b exportBan) decision() (state.Decision, error) {
	if err := checkPipeline(b.Pipeline); err != nil {
		return state.Decision{}, err
	}
	p, err := parsePrefix(b.Prefix)
	if err != nil {
		return state.Decision{}, err
	}
	d := state.Decision{Kind: state.Ban, Pipeline: b.Pipeline, Prefix: p, Failures: b.Failures, BanCount: b.BanCount, Reason: b.Reason}
	if d.Time, err = parseTime(b.Time); err != nil {
		return state.Decision{}, fmt.Errorf("time: %w", err)
	}
	if !b.Until.set {
		return state.Decision{}, errors.New("until: missing (null for a permanent ban)")
	}
	if b.Until.v != nil {
		if d.Until, err = parseTime(*b.Until.v); err != nil {
			return state.Decision{}, fmt.Errorf("until: %w", err)
		}
		if d.Until.IsZero() {
			return state.Decision{}, errors.New("until: the zero time; a permanent ban has until null")
		}
		if d.Until.Before(d.Time) {
			return state.Decision{}, fmt.Errorf("until %s is before time %s", *b.Until.v, b.Time)
		}
	}
	if b.Failures < 0 || b.BanCount < 0 {
		return state.Decision{}, errors.New("failures and ban_count cannot be negative")
	}
	return d, nil
}

func (h exportHistory) record() (HistoryRecord, storedHistory, error) {
	if err := checkPipeline(h.Pipeline); err != nil {
		return HistoryRecord{}, storedHistory{}, err
	}
	p, err := parsePrefix(h.Prefix)
	if err != nil {
		return HistoryRecord{}, storedHistory{}, err
	}
	last, err := parseTime(h.Last)
	if err != nil {
		return HistoryRecord{}, storedHistory{}, fmt.Errorf("last: %w", err)
	}
	if h.Count < 1 {
		return HistoryRecord{}, storedHistory{}, fmt.Errorf("count %d: at least 1", h.Count)
	}
	if h.BanTimeS < 0 && h.BanTimeS != -1 {
		return HistoryRecord{}, storedHistory{}, fmt.Errorf("bantime_s %v: seconds, or -1 for permanent", h.BanTimeS)
	}
	r := storedHistory{Count: h.Count, Last: last, BanTimeS: h.BanTimeS}
	return r.record(h.Pipeline, p), r, nil
}

func (w exportWindow) window() (importWindow, error) {
	if err := checkPipeline(w.Pipeline); err != nil {
		return importWindow{}, err
	}
	a, err := netip.ParseAddr(w.Key)
	if err != nil || a.Zone() != "" {
		return importWindow{}, fmt.Errorf("key %q: not an address", w.Key)
	}
	if len(w.Times) == 0 {
		return importWindow{}, errors.New("times: none")
	}
	out := importWindow{key: windowKey(w.Pipeline, a.Unmap())}
	for j, s := range w.Times {
		t, err := parseTime(s)
		if err != nil {
			return importWindow{}, fmt.Errorf("times[%d]: %w", j, err)
		}
		ns := t.UnixNano()
		if !time.Unix(0, ns).Equal(t) {
			return importWindow{}, fmt.Errorf("times[%d]: %s is out of range", j, s)
		}
		out.times = append(out.times, ns)
	}
	slices.Sort(out.times)
	out.times = slices.Compact(out.times)
	return out, nil
}

func (p exportPosition) position() (importPosition, error) {
	out := importPosition{value: p.Value}
	if out.value == nil {
		return importPosition{}, errors.New("no value")
	}
	if p.KeyBase64 != nil {
		if len(p.KeyBase64) == 0 {
			return importPosition{}, errors.New("key_base64: empty")
		}
		out.key = p.KeyBase64
		return out, nil
	}
	if p.Key == "" {
		return importPosition{}, errors.New("no key")
	}
	if err := checkPipeline(p.Pipeline); err != nil {
		return importPosition{}, err
	}
	out.key = []byte(p.Pipeline + "\x00" + p.Key)
	return out, nil
}
