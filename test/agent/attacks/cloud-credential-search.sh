#!/bin/sh
# T1552.001 (Falco "Find AWS Credentials"): search for cloud keys. benign: search for config.
# usage: cloud-credential-search.sh attack|benign <dir>
case "$1" in
  attack) grep -ri aws_secret_access_key "$2"; find "$2" -path '*/.aws/credentials' ;;
  benign) grep -ri region "$2"; find "$2" -name config ;;
esac
exit 0
