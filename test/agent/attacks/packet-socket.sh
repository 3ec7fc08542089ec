#!/bin/sh
# T1557.002: a packet socket (AF_PACKET) for sniffing or ARP spoofing. benign: a UDP socket.
# usage: packet-socket.sh attack|benign <behaviours-binary>
case "$1" in
  attack) exec "$2" packet-socket ;;
  benign) exec "$2" udp-socket ;;
esac
exit 2
