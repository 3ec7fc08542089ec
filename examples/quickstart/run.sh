#!/usr/bin/env bash
# meshward's quickstart, the whole loop on one machine in one command (as root, after
# ./scripts/setup.sh): `meshward serve`, a node agent (eBPF), and three small proxyless gRPC
# services (web, cart, payments; service.mjs) in "pods" (a kubelet-shaped cgroup and a network
# namespace each) calling each other over mTLS. It applies an AuthorizationPolicy (only cart may
# call payments) and prints the allowed and denied calls, then makes the web pod attempt a
# container escape (setns into the host's mount namespace) and shows the quarantine taking effect
# and its audit chain from the syscall to the last proxy's ACK. It removes everything it made.
#
# Environment (all optional):
#   MESHWARD_QUICKSTART_XDS=127.0.0.1:15010      serve's gRPC (xDS, CA, signals)
#   MESHWARD_QUICKSTART_CONSOLE=127.0.0.1:15080  serve's read API and web console
#   MESHWARD_QUICKSTART_MONITORING=127.0.0.1:15014
#   MESHWARD_QUICKSTART_HOLD=1                   keep everything running until Enter (browse the console)
set -euo pipefail
EXAMPLE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$EXAMPLE/../.." && pwd)"
MESHWARD="$ROOT/bin/meshward"
XDS="${MESHWARD_QUICKSTART_XDS:-127.0.0.1:15010}"
CONSOLE="${MESHWARD_QUICKSTART_CONSOLE:-127.0.0.1:15080}"
MONITORING="${MESHWARD_QUICKSTART_MONITORING:-127.0.0.1:15014}"
NS=shop
PORT=7070

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "quickstart: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (the node agent loads eBPF programs; pods are cgroups and network namespaces)"
[ -f "$ROOT/dist/src/cli/main.js" ] || die "meshward is not built: run ./scripts/setup.sh first"
CGROOT="$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)"
[ -n "$CGROOT" ] || die "no cgroup v2 mount"

WORK="$(mktemp -d /tmp/meshward-quickstart.XXXXXX)"
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
TAG="$(hex 3)"
NODE="quickstart-$TAG"
BRIDGE="mwqs$TAG"
# A random IPv6 ULA /64 (proxyless gRPC's RBAC matches IPv6 peers; see test/support/pod-network.ts).
PREFIX="fd$(hex 1):$(hex 2):$(hex 2)::"
PIDS=()
BRIDGE_MADE=""
PODS=(web cart payments)
declare -A IP UID_ CID CGROUP NETNS

cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  for p in "${PODS[@]}"; do
    [ -n "${NETNS[$p]:-}" ] && ip netns del "${NETNS[$p]}" 2>/dev/null
    if [ -n "${CGROUP[$p]:-}" ] && [ -d "${CGROUP[$p]}" ]; then
      for proc in $(cat "${CGROUP[$p]}/cgroup.procs" 2>/dev/null); do kill -9 "$proc" 2>/dev/null; done
      sleep 0.2
      rmdir "${CGROUP[$p]}" "$(dirname "${CGROUP[$p]}")" 2>/dev/null
    fi
  done
  [ -n "$BRIDGE_MADE" ] && ip link del "$BRIDGE" 2>/dev/null
  rm -rf "$WORK"
  echo "quickstart: cleaned up"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local seconds=$1; shift
  for _ in $(seq $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  "$@"
}

say "meshward serve (xDS $XDS, console http://$CONSOLE)"
mkdir -p "$WORK/config" "$WORK/data"
chmod 700 "$WORK/data"
printf 'trustDomain: cluster.local\nrootNamespace: istio-system\n' > "$WORK/config/mesh.yaml"
host=10
for p in "${PODS[@]}"; do
  host=$((host + 1))
  IP[$p]="${PREFIX}$host"
  cat >> "$WORK/config/services.yaml" <<EOF
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: $p, namespace: $NS}
spec:
  hosts: [$p.$NS.svc.cluster.local]
  ports: [{number: $PORT, name: grpc, protocol: GRPC}]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints: [{address: "${IP[$p]}", serviceAccount: $p, labels: {app: $p}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: $p, namespace: $NS}
spec:
  host: $p.$NS.svc.cluster.local
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
---
EOF
done
cat >> "$WORK/config/services.yaml" <<EOF
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: $NS}
spec: {mtls: {mode: STRICT}}
EOF
cp "$EXAMPLE/runtime-policy.yaml" "$WORK/config/"
"$MESHWARD" serve --config-dir "$WORK/config" --data-dir "$WORK/data" --xds-address "$XDS" --tls-address none \
  --monitoring-address "$MONITORING" --console-address "$CONSOLE" --log-level warn > "$WORK/serve.log" 2>&1 &
PIDS+=($!)
ready() { node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "http://$MONITORING/readyz"; }
wait_for 60 ready || { cat "$WORK/serve.log"; die "meshward serve did not become ready"; }
echo "serving; web console: http://$CONSOLE"

say "pods: web, cart and payments (cgroup + network namespace each, on bridge $BRIDGE)"
ip link add "$BRIDGE" type bridge
BRIDGE_MADE=1
ip -6 addr add "${PREFIX}1/64" dev "$BRIDGE" nodad
ip link set "$BRIDGE" up
echo "pods:" > "$WORK/pods.yaml"
for p in "${PODS[@]}"; do
  UID_[$p]="$(cat /proc/sys/kernel/random/uuid)"
  CID[$p]="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
  CGROUP[$p]="$CGROOT/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_[$p]//-/_}.slice/cri-containerd-${CID[$p]}.scope"
  mkdir -p "${CGROUP[$p]}"
  # Recorded once made, so the cleanup never removes another run's namespace.
  ip netns add "mwqs-$TAG-$p"
  NETNS[$p]="mwqs-$TAG-$p"
  ip link add "mwqs$TAG${p:0:3}" type veth peer name eth0 netns "${NETNS[$p]}"
  ip link set "mwqs$TAG${p:0:3}" master "$BRIDGE" up
  ip -n "${NETNS[$p]}" -6 addr add "${IP[$p]}/64" dev eth0 nodad
  ip -n "${NETNS[$p]}" link set lo up
  ip -n "${NETNS[$p]}" link set eth0 up
  ip -n "${NETNS[$p]}" -6 route add default via "${PREFIX}1"
  cat >> "$WORK/pods.yaml" <<EOF
  - uid: ${UID_[$p]}
    namespace: $NS
    name: $p-0
    serviceAccount: $p
    node: $NODE
    labels: {app: $p}
    containers: {${CID[$p]}: $p}
EOF
  printf '%-9s %-40s %s\n' "$p-0" "${IP[$p]}" "spiffe://cluster.local/ns/$NS/sa/$p"
done

say "node agent $NODE (eBPF)"
"$MESHWARD" token create --namespace meshward-system --service-account "node-$NODE" --audience meshward-signals --data-dir "$WORK/data" > "$WORK/node.token"
"$MESHWARD" agent --node "$NODE" --control-plane "$XDS" --token-file "$WORK/node.token" --data-dir "$WORK/agent" \
  --identity-socket none --pods "$WORK/pods.yaml" > "$WORK/agent.log" 2>&1 &
PIDS+=($!)
agent_connected() { "$MESHWARD" events --server "$XDS" --agents --token-file "$WORK/node.token" | grep -q "^$NODE connected"; }
wait_for 60 agent_connected || { cat "$WORK/agent.log"; die "the node agent did not connect"; }
"$MESHWARD" events --server "$XDS" --agents --token-file "$WORK/node.token"

# Runs a command inside pod $1: its network namespace and its container cgroup.
in_pod() {
  local p=$1; shift
  nsenter --net="/run/netns/${NETNS[$p]}" /bin/sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "${CGROUP[$p]}" "$@"
}

say "services: certificates from meshward's CA (workload-certs), xDS bootstrap, proxyless gRPC over mTLS"
for p in "${PODS[@]}"; do
  mkdir -p "$WORK/pods/$p"
  # The pod's agent: rotates its certificate and relays its xDS on a socket only it uses.
  NODE_NAME="$NODE" "$MESHWARD" workload-certs --namespace "$NS" --service-account "$p" --data-dir "$WORK/data" --ca-address "$XDS" \
    --out "$WORK/pods/$p/certs" --bootstrap "$WORK/pods/$p/bootstrap.json" --xds-address "$XDS" --xds-relay "unix://$WORK/pods/$p/xds.sock" \
    --pod-name "$p-0" --pod-ip "${IP[$p]}" --labels "app=$p" > "$WORK/pods/$p/certs.log" 2>&1 &
  PIDS+=($!)
done
for p in "${PODS[@]}"; do
  wait_for 30 test -s "$WORK/pods/$p/bootstrap.json" || { cat "$WORK/pods/$p/certs.log"; die "no certificate for $p"; }
  GRPC_XDS_BOOTSTRAP="$WORK/pods/$p/bootstrap.json" GRPC_XDS_EXPERIMENTAL_RBAC=true \
    in_pod "$p" node "$EXAMPLE/service.mjs" "$p" "[${IP[$p]}]:$PORT" > "$WORK/pods/$p/service.log" 2>&1 &
  PIDS+=($!)
done
for p in "${PODS[@]}"; do
  wait_for 30 grep -q serving "$WORK/pods/$p/service.log" || { cat "$WORK/pods/$p/service.log"; die "$p did not start"; }
  cat "$WORK/pods/$p/service.log"
done

# One call from pod $1 to service $2 through the mesh; prints "from -> to: OUTCOME ...".
call() {
  local out
  out="$(GRPC_XDS_BOOTSTRAP="$WORK/pods/$1/bootstrap.json" in_pod "$1" node "$EXAMPLE/call.mjs" "$2.$NS.svc.cluster.local:$PORT" 2>&1 | tail -1)"
  printf '%-20s %s\n' "$1 -> $2:" "$out"
}
# Every call between the pods, each retried (config and pushes take a moment to reach every pod)
# until its outcome is the one `expect FROM TO` names (a regex), then printed; 1 if any never was.
calls() {
  local from to line ok=0
  for from in "${PODS[@]}"; do
    for to in "${PODS[@]}"; do
      [ "$from" = "$to" ] && continue
      for _ in $(seq 20); do
        line="$(call "$from" "$to")"
        [[ "$line" =~ :\ +($(expect "$from" "$to"))\  ]] && break
        sleep 1
      done
      echo "$line"
      [[ "$line" =~ :\ +($(expect "$from" "$to"))\  ]] || ok=1
    done
  done
  return $ok
}

say "calls with STRICT mTLS and no AuthorizationPolicy"
expect() { echo ALLOWED; }
calls || die "not every call is allowed yet"

say "apply examples/quickstart/authorization-policy.yaml: only cart may call payments"
sed -n '/^apiVersion/,$p' "$EXAMPLE/authorization-policy.yaml"
cp "$EXAMPLE/authorization-policy.yaml" "$WORK/config/"
expect() { [ "$1 $2" = "web payments" ] && echo DENIED || echo ALLOWED; }
calls || die "the AuthorizationPolicy did not take effect"

say "the web pod attempts a container escape: nsenter into the host's mount namespace"
in_pod web nsenter --mount=/proc/$$/ns/mnt /bin/true && echo "web-0: nsenter --mount=/proc/$$/ns/mnt /bin/true exited 0"
quarantined() { "$MESHWARD" quarantine list --console "$CONSOLE" --data-dir "$WORK/data" | grep -q "shop/web-0"; }
wait_for 30 quarantined || { cat "$WORK/agent.log"; die "no quarantine"; }
"$MESHWARD" quarantine list --console "$CONSOLE" --data-dir "$WORK/data"

say "calls with web-0 quarantined"
# Through the mesh no endpoint is left (UNAVAILABLE); a direct call would meet web-0's deny-all.
expect() { { [ "$1" = web ] || [ "$2" = web ]; } && echo "UNAVAILABLE|DENIED" || echo ALLOWED; }
calls || die "the quarantine did not cut web-0 off"

say "the audit chain: syscall -> agent -> verdict -> translation -> push -> last ACK"
chain_complete() { "$MESHWARD" events --console "$CONSOLE" --data-dir "$WORK/data" --pod shop/web-0 | grep -q "syscall->last ACK [0-9.]*ms"; }
wait_for 30 chain_complete || true
"$MESHWARD" events --console "$CONSOLE" --data-dir "$WORK/data" --pod shop/web-0

say "analyze the running control plane"
"$MESHWARD" analyze --console "$CONSOLE" --data-dir "$WORK/data" || true

if [ "${MESHWARD_QUICKSTART_HOLD:-}" = 1 ]; then
  say "still running: web console on http://$CONSOLE (release the quarantine there); press Enter to clean up"
  read -r _
fi
echo
echo "quickstart: done"
