package pipelines

import (
	"errors"
	"fmt"

	"github.com/logjail/logjail/ingest/journald"
)

// HostWarnings looks, for `logjail validate`, at what the enabled
// pipelines' journald sources would read on this host, and says which
// cannot be read: no journal files for the journal, namespace, directory
// or files configured, or a journal that cannot be opened. Such a
// pipeline runs but reads nothing until a journal appears. It opens the
// journals (read only) and closes them again; Load never does.
//
// A build or host without journald support is not repeated here: Load
// already warns about it (Config.Warnings).
func HostWarnings(cfg *Config) []string {
	var out []string
	for _, p := range cfg.Enabled() {
		for _, in := range p.Ingest {
			j := in.Journald
			if j == nil {
				continue
			}
			err := journald.Probe(journald.Config{Match: j.Match, Namespace: j.Namespace, Files: j.Files, Directory: j.Directory})
			if err == nil || errors.Is(err, journald.ErrUnavailable) {
				continue
			}
			what := "cannot be opened on this host"
			if errors.Is(err, journald.ErrNoJournal) {
				what = "has no journal on this host"
			}
			out = append(out, fmt.Sprintf("%s: pipeline %s: journald source %s: %v; the pipeline reads nothing from it until a journal appears", in.At, p.Name, what, err))
		}
	}
	return out
}
