package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state"
)

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
	history   []importHistory
	windows   []importWindow
	positions []importPosition
	pipelines []string
}

type importHistory struct {
	rec    HistoryRecord
	stored storedHistory
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
	for _, h := range doc.history {
		s.lengths.notePrefix(h.rec.Prefix)
	}
	for _, d := range doc.bans {
		s.lengths.notePrefix(d.Prefix)
	}
	err = s.update(func(tx *bolt.Tx) error {
		if replace {
			if err := dropRecords(tx); err != nil {
				return err
			}
		}
		for _, merge := range []func(*bolt.Tx, *ImportStats) error{doc.mergeHistory, doc.mergeBans, doc.mergeWindows} {
			if err := merge(tx, &st); err != nil {
				return err
			}
		}
		return doc.mergePositions(tx, replace, &st)
	})
	if err != nil {
		return ImportStats{}, fmt.Errorf("importing into %s: %w", s.path, err)
	}
	return st, nil
}

// dropRecords empties the buckets an import writes (a restore).
func dropRecords(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketBans, bucketHistory, bucketWindows, bucketPositions} {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	return nil
}

// mergeHistory writes the history records: of a prefix in both, the
// higher count and the newer ban.
func (doc *importDoc) mergeHistory(tx *bolt.Tx, st *ImportStats) error {
	hb := tx.Bucket(bucketHistory)
	for _, h := range doc.history {
		r := h.stored
		k := historyKey(h.rec.Pipeline, h.rec.Prefix)
		if old, err := decodeHistory(hb.Get(k)); err == nil {
			count := max(old.Count, r.Count)
			if !r.Last.After(old.Last) {
				r = old
			}
			r.Count = count
		}
		if err := hb.Put(k, encodeHistory(r)); err != nil {
			return err
		}
		st.History++
	}
	return nil
}

// mergeBans writes the bans: of a ban in both, the one that ends later.
func (doc *importDoc) mergeBans(tx *bolt.Tx, st *ImportStats) error {
	bb := tx.Bucket(bucketBans)
	for _, d := range doc.bans {
		if old, err := decodeBan(bb.Get(banKey(d.Pipeline, d.Prefix))); err == nil && !endsLater(d.Until, old.Until) {
			st.Kept++
			continue
		}
		if err := saveBan(tx, d); err != nil {
			return err
		}
		st.Bans++
	}
	return nil
}

// mergeWindows writes the windows: of a key in both, the times of both.
func (doc *importDoc) mergeWindows(tx *bolt.Tx, st *ImportStats) error {
	wb := tx.Bucket(bucketWindows)
	for _, w := range doc.windows {
		times := w.times
		if v := wb.Get(w.key); v != nil && len(v)%8 == 0 {
			times = append(slices.Clone(times), decodeTimes(v)...)
			slices.Sort(times)
			times = slices.Compact(times)
		}
		if err := wb.Put(w.key, encodeTimes(times)); err != nil {
			return err
		}
		st.Windows++
	}
	return nil
}

// mergePositions writes the positions: of a source in both, the store's
// unless replacing.
func (doc *importDoc) mergePositions(tx *bolt.Tx, replace bool, st *ImportStats) error {
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
	top, err := readTop(r)
	if err != nil {
		return nil, err
	}
	doc := &importDoc{}
	doc.bans, err = records(top, "bans", exportBan.decision,
		func(d state.Decision) string { return string(banKey(d.Pipeline, d.Prefix)) },
		func(_ exportBan, d state.Decision) string {
			return fmt.Sprintf("pipeline %s, prefix %s", d.Pipeline, d.Prefix)
		})
	if err != nil {
		return nil, err
	}
	doc.history, err = records(top, "history", exportHistory.record,
		func(h importHistory) string { return string(historyKey(h.rec.Pipeline, h.rec.Prefix)) },
		func(_ exportHistory, h importHistory) string {
			return fmt.Sprintf("pipeline %s, prefix %s", h.rec.Pipeline, h.rec.Prefix)
		})
	if err != nil {
		return nil, err
	}
	doc.windows, err = records(top, "windows", exportWindow.window,
		func(w importWindow) string { return string(w.key) },
		func(w exportWindow, _ importWindow) string {
			return fmt.Sprintf("pipeline %s, key %s", w.Pipeline, w.Key)
		})
	if err != nil {
		return nil, err
	}
	doc.positions, err = records(top, "positions", exportPosition.position,
		func(p importPosition) string { return string(p.key) },
		func(p exportPosition, _ importPosition) string {
			return fmt.Sprintf("pipeline %s, key %q", p.Pipeline, p.Key)
		})
	if err != nil {
		return nil, err
	}
	doc.pipelines = doc.names()
	return doc, nil
}

// readTop decodes the document's top level and checks its version, its
// fields and exported_at.
func readTop(r io.Reader) (map[string]json.RawMessage, error) {
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
	return top, nil
}

// records decodes the records of section name and checks each (check),
// refusing a second record of the same key; again names a record in that
// error.
func records[T, R any](top map[string]json.RawMessage, name string, check func(T) (R, error), key func(R) string, again func(T, R) string) ([]R, error) {
	var raw []T
	if err := section(top, name, &raw); err != nil {
		return nil, err
	}
	var out []R
	seen := map[string]int{}
	for i, rec := range raw {
		r, err := check(rec)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
		}
		k := key(r)
		if j, dup := seen[k]; dup {
			return nil, fmt.Errorf("%s[%d]: %s again (as %s[%d])", name, i, again(rec, r), name, j)
		}
		seen[k] = i
		out = append(out, r)
	}
	return out, nil
}

// names lists the pipelines of the document's records, sorted.
func (doc *importDoc) names() []string {
	pipelines := map[string]bool{}
	for _, d := range doc.bans {
		pipelines[d.Pipeline] = true
	}
	for _, h := range doc.history {
		pipelines[h.rec.Pipeline] = true
	}
	// A window's and a position's key start with the pipeline and a NUL
	// (a pipeline holds none).
	for _, w := range doc.windows {
		name, _, _ := bytes.Cut(w.key, []byte{0})
		pipelines[string(name)] = true
	}
	for _, p := range doc.positions {
		if name, _, ok := bytes.Cut(p.key, []byte{0}); ok {
			pipelines[string(name)] = true
		}
	}
	return slices.Sorted(maps.Keys(pipelines))
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
