#!/bin/sh
# T1555: a hardlink to /etc/shadow. Runs in a sandbox whose /etc is an overlay of the host's, so
# the link lands in a scratch upper directory. benign: a hardlink to a file of the workload's own.
# usage: hardlink-over-sensitive-file.sh attack|benign
case "$1" in
  attack) exec ln /etc/shadow /etc/shadow-copy ;;
  benign) echo x > /tmp/meshward-own-$$ && ln /tmp/meshward-own-$$ /tmp/meshward-own-$$-link; rm -f /tmp/meshward-own-$$ /tmp/meshward-own-$$-link ;;
esac
