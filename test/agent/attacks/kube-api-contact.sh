#!/bin/bash
# T1613: a workload that never talks to the Kubernetes API server connects to it (discovery with
# a stolen or mounted token). benign: another service on the same host.
# usage: kube-api-contact.sh <ip> <port>
exec 3<>"/dev/tcp/$1/$2" && exec 3>&-
