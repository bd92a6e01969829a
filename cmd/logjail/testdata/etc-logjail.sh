#!/bin/sh
# etc-logjail.sh SCRATCH DIR COMMAND...: runs COMMAND with DIR mounted on
# /etc/logjail. Run it under `unshare -m --propagation private`: the mounts
# are the private namespace's, and the host's /etc is never written. /etc
# gets an overlay whose upper layer is a tmpfs on SCRATCH, only so that the
# mount point /etc/logjail can be made where the host has none.
set -eu
scratch=$1 dir=$2
shift 2
mount -t tmpfs tmpfs "$scratch"
mkdir "$scratch/upper" "$scratch/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$scratch/upper,workdir=$scratch/work" /etc
mkdir -p /etc/logjail
mount --bind "$dir" /etc/logjail
exec "$@"
