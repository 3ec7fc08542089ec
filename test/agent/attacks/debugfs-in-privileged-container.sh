#!/bin/sh
# T1611 (Falco "Debugfs Launched in Privileged Container"): debugfs with CAP_SYS_ADMIN reads and
# writes the host's block devices. benign: the same without CAP_SYS_ADMIN.
# usage: debugfs-in-privileged-container.sh attack|benign
case "$1" in
  attack) exec debugfs -R stats /dev/null ;;
  benign) exec setpriv --bounding-set -sys_admin --inh-caps -sys_admin debugfs -R stats /dev/null ;;
esac
exit 2
