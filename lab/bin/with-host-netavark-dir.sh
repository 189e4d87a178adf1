#!/bin/sh
# usage: unshare --mount --propagation private sh with-host-netavark-dir.sh DIR COMMAND [ARG...]
#
# Rootful podman keeps netavark's state (IPAM database, aardvark-dns configs keyed by network
# name) in the fixed directory /run/containers/networks, shared by every engine on the machine:
# two lab hosts running the same compose project would share one "demo_default" DNS and IPAM.
# Inside its own mount namespace each lab host's engine sees its own directory there.
set -eu
dir=$1
shift
mkdir -p "$dir" /run/containers/networks
mount --bind "$dir" /run/containers/networks
exec "$@"
