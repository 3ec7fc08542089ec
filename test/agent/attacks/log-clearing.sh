#!/bin/sh
# T1070.002 (Falco "Clear Log Activities"): truncate a log to erase evidence. Runs in a sandbox
# whose /var/log is an overlay. benign: append to a log.
# usage: log-clearing.sh attack|benign
case "$1" in
  attack) : > /var/log/meshward-attack.log ;;
  benign) echo line >> /var/log/meshward-app.log ;;
esac
