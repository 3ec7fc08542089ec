#!/bin/sh
# Drift (Falco "Drop and execute new binary in container"): run a binary the container wrote, or
# made executable, after it started. benign: run a binary that was in the image before the start.
# usage: container-drift.sh attack|chmod|benign <dir>
set -e
case "$1" in
  attack) cp /bin/true "$2/dropped" && chmod 755 "$2/dropped" && exec "$2/dropped" ;;
  chmod) chmod 755 "$2/image-not-executable" && exec "$2/image-not-executable" ;;
  benign) exec "$2/image-binary" ;;
esac
exit 2
