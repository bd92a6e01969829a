#!/bin/sh
# Runs systemd-journald by hand, in the private mount namespace the test
# starts this script in (unshare -m): tmpfs over /run/systemd, /run/log and
# /var/log/journal, so the host's journal and sockets are never touched.
# Then runs "$@" twice with stdout and stderr on a journal stream, as a
# service's are, and JOURNAL_STREAM naming that stream (what systemd sets
# for a service): once until its control socket $SOCKET exists,
# then SIGTERM; once more with a bad flag (a run that fails at once). The
# journal's entries of both, as JSON, go to $OUT/all.json, and those of
# priority warning and above to $OUT/warning.json.
set -eu
OUT=$1
shift
mount -t tmpfs tmpfs /run/systemd
mount -t tmpfs tmpfs /run/log
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
mkdir -p /run/systemd/journal
/lib/systemd/systemd-journald >"$OUT/journald.log" 2>&1 &
journald=$!
trap 'kill $journald' EXIT
journal_stream='JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"'
wait_for() { # wait_for WHAT COMMAND...: up to 20s
	what=$1
	shift
	i=0
	until "$@"; do
		i=$((i + 1))
		if [ $i -gt 200 ]; then echo "timed out waiting for $what" >&2; exit 1; fi
		sleep 0.1
	done
}
wait_for "journald's stdout socket" test -S /run/systemd/journal/stdout
systemd-cat -t logjail sh -c "$journal_stream" sh "$@" &
logjail=$! # systemd-cat and sh exec it: this is logjail
wait_for "logjail's control socket" test -S "$SOCKET"
ps -o comm= -p $logjail >"$OUT/first.comm"
kill -TERM $logjail
wait $logjail || true
systemd-cat -t logjail sh -c "$journal_stream" sh "$@" --log-format xml || true
wait_for "the journal to hold the last line" sh -c 'journalctl -t logjail -o cat --no-pager | grep -q -- "--log-format"'
journalctl -t logjail -o json --no-pager >"$OUT/all.json"
journalctl -t logjail -o json --no-pager -p warning >"$OUT/warning.json"
