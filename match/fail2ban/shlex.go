package fail2ban

import (
	"errors"
	"strings"
)

// ShellSplit splits s into words like Python's shlex.split (POSIX mode, no
// comments): white space separates words; 'single quotes' keep everything;
// "double quotes" keep everything but a backslash before '"' or '\';
// outside quotes a backslash escapes any character.
func ShellSplit(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   rune // 0, '\'' or '"'
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			if quote == '"' && r != '"' && r != '\\' {
				cur.WriteRune('\\')
			}
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if escaped {
		return nil, errors.New("no escaped character")
	}
	if quote != 0 {
		return nil, errors.New("no closing quotation")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// ShellOperator returns the first character of s that only a shell gives a
// meaning to — a pipe, a list or redirection operator, a subshell, an
// expansion ($, `) — outside single quotes, or 0 when there is none. A
// command with one does something else when split into words and run
// without a shell.
func ShellOperator(s string) rune {
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			}
		case r == '\\':
			escaped = true
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '$', '`':
				return r
			}
		case r == '\'' || r == '"':
			quote = r
		case strings.ContainsRune("|&;<>()$`", r):
			return r
		}
	}
	return 0
}
