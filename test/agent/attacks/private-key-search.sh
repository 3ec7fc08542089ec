#!/bin/sh
# T1552.004 (Falco "Search Private Keys or Passwords"): grep and find for private keys.
# benign: grep and find for something else.
# usage: private-key-search.sh attack|benign <dir>
case "$1" in
  attack) grep -rl "BEGIN RSA PRIVATE" "$2"; find "$2" -name id_ed25519 ;;
  benign) grep -rl "hello" "$2"; find "$2" -name '*.txt' ;;
esac
exit 0
