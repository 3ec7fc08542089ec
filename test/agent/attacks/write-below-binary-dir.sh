#!/bin/sh
# T1543 (Falco "Write below binary dir"): plant or replace a binary. Runs in a sandbox whose
# /usr/local/bin is an overlay. benign: run a tool the image build put there (not drift either).
# usage: write-below-binary-dir.sh attack|benign
case "$1" in
  attack) exec cp /bin/true /usr/local/bin/meshward-planted ;;
  benign) exec /usr/local/bin/meshward-image-tool ;;
esac
exit 2
