#!/bin/sh
# Runs COMMAND where /dev/log is SOCKET, as it is on a Debian host with
# rsyslog, without changing the host's /dev: meant to run under
# `unshare -m --propagation private`, it mounts a private tmpfs over /dev
# (with the few device nodes sshd uses) and over /run (for sshd's privilege
# separation directory, /run/sshd).
#
# usage: unshare -m --propagation private sh private-dev-log.sh SOCKET COMMAND [ARG...]
set -eu
sock=$1
shift
mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/tty c 5 0
ln -s /proc/self/fd /dev/fd
ln -s "$sock" /dev/log
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -m 0755 /run/sshd
exec "$@"
