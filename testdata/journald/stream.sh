#!/bin/sh
# Runs systemd-journald by hand, in the private mount namespace the test
# starts this script in (unshare -m): tmpfs over /run/systemd, /run/log and
# /var/log/journal, so the host's journal and sockets are never touched.
# Then runs "$@" twice with stdout and stderr on a journal stream, as a
# service's are, and JOURNAL_STREAM naming that stream (what systemd sets
# for a service): once for 3 seconds (then SIGTERM), once more as it is
# (a run that fails at once). The journal's entries of both, as JSON, go to
# $OUT/all.json, and those of priority warning and above to
# $OUT/warning.json.
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
i=0
until [ -S /run/systemd/journal/stdout ]; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then echo "journald made no stdout socket" >&2; exit 1; fi
	sleep 0.1
done
stream() {
	systemd-cat -t logjail sh -c 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"' sh "$@" || true
}
stream timeout -s TERM 3 "$@"
stream "$@" --log-format xml
sleep 0.5
journalctl -t logjail -o json --no-pager >"$OUT/all.json"
journalctl -t logjail -o json --no-pager -p warning >"$OUT/warning.json"
