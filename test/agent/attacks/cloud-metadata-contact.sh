#!/bin/bash
# T1552.005 (Falco "Contact cloud metadata service from container"): fetch the node role's
# credentials from the instance-metadata service. Run in a network namespace of its own, so the
# connect fails (no route) after the hook saw it and nothing leaves the host. benign: a neighbour.
# usage: cloud-metadata-contact.sh attack|benign
case "$1" in
  attack) exec 3<>/dev/tcp/169.254.169.254/80 ;;
  benign) exec 3<>/dev/tcp/169.254.169.253/80 ;;
esac
exit 0
