#!/bin/sh
# T1555: a symlink to /etc/shadow (or /, /etc, /root) where something with other rights reads it.
# usage: symlink-over-sensitive-file.sh attack|benign <dir>
case "$1" in
  attack) exec ln -s /etc/shadow "$2/shadow-link" ;;
  benign) exec ln -s /etc/hostname "$2/hostname-link" ;;
esac
exit 2
