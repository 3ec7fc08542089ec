#!/bin/sh
# T1611: talk to the container runtime's API socket (a mounted docker.sock/containerd.sock gives
# the node). attack: connect to <dir>/containerd.sock; benign: an application's own socket.
# usage: container-runtime-socket.sh attack|benign <socket-dir> <behaviours-binary>
set -e
case "$1" in
  attack) exec "$3" connect-unix "$2/containerd.sock" ;;
  benign) exec "$3" connect-unix "$2/app.sock" ;;
esac
exit 2
