#!/bin/sh
# T1611 (Falco "Privileged Container Device Access"): read the host's disk or memory from a
# privileged container, under every file permission. The device names do not exist here, so
# nothing is read: the open is what is detected. benign: the devices every program opens.
# usage: host-device-access.sh attack|benign
case "$1" in
  attack) head -c 1 /dev/sdzz; head -c 1 /dev/nvme99n1 ;;
  benign) head -c 1 /dev/urandom >/dev/null; head -c 1 /dev/zero >/dev/null; : < /dev/null ;;
esac
exit 0
