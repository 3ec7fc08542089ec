#!/bin/sh
# T1098 (Falco "Write below etc"): persistence through /etc (cron, profile, passwd). Runs in a
# sandbox whose /etc is an overlay of the host's. benign: read /etc, write to /tmp.
# usage: write-below-etc.sh attack|benign
case "$1" in
  attack) echo '* * * * * root /payload' > /etc/cron.d/meshward-attack ;;
  benign) cat /etc/passwd /etc/hostname >/dev/null && echo x > /tmp/meshward-benign-$$ && rm -f /tmp/meshward-benign-$$ ;;
esac
