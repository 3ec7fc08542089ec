#!/bin/sh
# T1611: create a user namespace (root with every capability inside it) and use a capability
# from it, here mount(2): the first step of CVE-2022-0185-style escapes. benign twin: create the
# user namespace and use nothing from it.
# usage: userns-capability-use.sh attack|benign
case "$1" in
  attack) exec unshare -Urm sh -c 'mount -t tmpfs none /mnt' ;;
  benign) exec unshare -Ur true ;;
esac
exit 2
