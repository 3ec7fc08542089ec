#!/bin/sh
# T1548.001 (Falco "Set Setuid or Setgid bit"): plant a setuid-root binary for later. benign: an
# ordinary chmod.
# usage: setuid-bit-set.sh attack|benign <dir>
set -e
cp /bin/true "$2/planted-$1"
case "$1" in
  attack) chmod u+s "$2/planted-$1" && chmod g+s "$2/planted-$1" ;;
  benign) chmod 755 "$2/planted-$1" ;;
esac
