#!/bin/sh
# T1059.004: execute from /dev/shm (writable, executable, shared, survives container restarts),
# by absolute and by relative path. The binary was put there before the container started, so
# this is not drift as well. benign: the same binary from an ordinary directory.
# usage: exec-from-dev-shm.sh attack|benign <name-in-/dev/shm> <ordinary-copy>
set -e
case "$1" in
  attack) "/dev/shm/$2"; cd /dev/shm && exec "./$2" ;;
  benign) exec "$3" ;;
esac
exit 2
