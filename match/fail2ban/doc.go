// Package fail2ban reads fail2ban configuration files (filters and jails)
// with fail2ban's own semantics, so that logjail can import an existing
// fail2ban setup.
//
// The behaviour follows fail2ban 1.0.2 (client/configparserinc.py,
// configreader.py, filterreader.py, jailreader.py and helpers.py), which in
// turn builds on Python's configparser:
//
//   - INI syntax: "[section]" headers; "name = value" or "name: value" (the
//     first '=' or ':' separates); option names are case-insensitive
//     (lower-cased), section names are not; a value continues on following
//     lines indented deeper than its first line (blank lines inside a value
//     are kept, trailing ones dropped); lines whose first non-blank character
//     is '#' or ';' are comments, and ';' preceded by white space starts an
//     inline comment ('#' never does); a section or option given twice in one
//     file is an error.
//   - [INCLUDES] before/after: one file per line, relative to the including
//     file's directory; every file read also reads NAME.local next to it;
//     include files that do not exist are ignored; include loops are cut.
//   - NAME.conf, NAME.d/*.conf (sorted), NAME.local, NAME.d/*.local (sorted),
//     each with its includes, merged in that order: a later file overrides
//     single options, [DEFAULT] supplies options missing from a section,
//     and the value a later file replaces stays reachable as
//     %(known/name)s.
//   - %(name)s interpolation, resolved late in the section that asks (then
//     [DEFAULT]); %% is a literal percent; %(section/name)s reads another
//     section, %(default/name)s the defaults, %(__name__)s is the section's
//     own name; at most 10 nested levels, and a loop is reported as such.
//   - Filter definitions ([Definition] and [Init]): arguments as in
//     "sshd[mode=aggressive]" override [Init] and are visible to %(...)s
//     ([Init] values themselves are not); logtype is "file" unless set;
//     <name> tags are then replaced recursively from the combined options
//     (falling back to any [Definition] or [DEFAULT] option, and to
//     <section/name>); tags that name no option, such as <HOST>, <ADDR> or
//     <F-USER>, stay for the regex compiler; <known/name> is the [Init] value
//     before arguments (or the [Definition] value before the last override);
//     a tag that contains itself is an error.
//   - Jails: jail.conf, jail.d/*.conf, jail.local, jail.d/*.local; every
//     section but [INCLUDES] is a jail; a jail's filter is read as fail2ban
//     reads it for a jail (logtype from the backend, jail-level failregex &
//     co.), and in a jail %(known/name)s names the filter's value first.
//
// Where fail2ban would fail on a detail or loop forever, this package
// reports an error instead: include loops through differently spelt paths
// are cut, and interpolation loops are named as such.
//
// Nothing here compiles regular expressions: values are returned in
// fail2ban's (Python) regex syntax with its tags in place.
//
// The packages under this one reproduce the rest of fail2ban that logjail
// runs: matcher (fail2ban's filter semantics, a match.Matcher), datedetector
// (its date detector, exactly) and pyre (its Python regular expressions).
package fail2ban
