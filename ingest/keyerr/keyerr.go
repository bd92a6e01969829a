// Package keyerr marks a constructor's error with the configuration key it
// is about, so that the configuration loader can point at that key's line
// instead of the whole block's.
package keyerr

import "errors"

// Error is an error about one key of a constructor's configuration. Its
// message is Err's, unchanged; Key is for the loader.
type Error struct {
	// Key is the YAML key, a dotted path inside the block for a nested
	// one ("max_connections", "tls.cert", "smtp.timeout").
	Key string
	Err error
}

func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Wrap marks err as being about key.
func Wrap(key string, err error) error { return &Error{Key: key, Err: err} }

// Key returns the key err is about, if any error in its chain carries one.
func Key(err error) (string, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Key, true
	}
	return "", false
}

// Each returns the errors a constructor (or a regex compiler) joined, each
// to be placed at its own key, err alone when it is not joined, or nil.
// Joins inside joins are flattened: a constructor joins the errors of its
// parts, each of which may have joined its own.
func Each(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, Each(e)...)
	}
	return out
}

// Keys returns the key of each error Each returns ("" for one about no
// key).
func Keys(err error) []string {
	var keys []string
	for _, e := range Each(err) {
		k, _ := Key(e)
		keys = append(keys, k)
	}
	return keys
}
