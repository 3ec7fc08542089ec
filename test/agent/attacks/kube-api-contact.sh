#!/bin/sh
# T1613 (Falco "Contact K8S API Server From Container"): a workload that never talks to the
# Kubernetes API server lists pods with a token it found. benign: a call to another service.
# usage: kube-api-contact.sh attack|benign <url> <token>
case "$1" in
  attack) curl -sk --max-time 10 -o /dev/null -H "Authorization: Bearer $3" "$2/api/v1/pods" ;;
  benign) curl -s --max-time 10 -o /dev/null "$2/" ;;
esac
exit 0
