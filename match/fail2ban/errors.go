package fail2ban

import (
	"errors"
	"strings"
)

var (
	// ErrNoSection is wrapped by errors about a section that does not exist.
	ErrNoSection = errors.New("no such section")
	// ErrNoOption is wrapped by errors about an option that does not exist.
	ErrNoOption = errors.New("no such option")
	// ErrUndefined is wrapped by errors about a %(name)s reference to an
	// option that does not exist.
	ErrUndefined = errors.New("reference to an undefined option")
)

// Pseudo file names for values that come from no file.
const (
	argFile     = "(filter argument)"
	builtinFile = "(built-in)"
)

// Error is a configuration error: where (the file and line of the value at
// fault), which option, and what.
type Error struct {
	Pos Pos
	Key string // the option whose value is at fault; may be empty
	Msg string
	Err error // a wrapped cause such as ErrNoOption; may be nil

	ref string // for ErrUndefined: the (lower-case) name referred to
}

func (e *Error) Error() string {
	var b strings.Builder
	if p := e.Pos.String(); p != "" {
		b.WriteString(p)
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }
