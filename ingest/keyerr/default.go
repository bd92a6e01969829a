package keyerr

import "fmt"

// Default checks one count or duration setting of a constructor: zero
// becomes def, a negative value is an error about key, reading
// "pkg: key: -1 is negative". The sources check most of their settings this
// way, so the wording and the key stay the same everywhere.
func Default[T ~int | ~int64](pkg, key string, v *T, def T) error {
	switch {
	case *v < 0:
		return Wrap(key, fmt.Errorf("%s: %s: %v is negative", pkg, key, *v))
	case *v == 0:
		*v = def
	}
	return nil
}
