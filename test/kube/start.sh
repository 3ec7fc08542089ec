#!/usr/bin/env bash
# Copied from the shared test tools (tools/kube-apiserver) with one addition: restart-apiserver.
# Run a real etcd + kube-apiserver on loopback for tests (binaries from build.sh).
#
#   start.sh up            start both in the background; prints KUBECONFIG path last
#   start.sh down          stop both (SIGTERM, then SIGKILL) and delete the state dir
#   start.sh exec CMD...   up, run CMD with KUBECONFIG/KAS_* exported, always down;
#                          exits with CMD's status
#   start.sh env           print `export ...` lines for a running instance
#
# Env knobs:
#   KAS_BIN     dir with kube-apiserver and etcd  (default $HOME/.cache/kas-local/bin)
#   KAS_STATE   state dir (certs, etcd data, logs, kubeconfig, pids)
#               (default /tmp/kas-state; use one per parallel instance)
#   KAS_PORT    apiserver secure port              (default: a free port)
#   KAS_ADMISSION_DISABLE  admission plugins to disable (default ServiceAccount)
#   KAS_EXTRA_ARGS         extra kube-apiserver flags (word-split)
#   KAS_READY_TIMEOUT      seconds to wait for /readyz (default 90)
#   KAS_KEEP_STATE=1       `down` keeps $KAS_STATE (logs) instead of deleting it
#   KAS_STOP_SIGNAL        signal `down` sends first (default TERM; KILL = instant)
#   KAS_WITH_KCM=1         also run kube-controller-manager (build.sh BUILD_KCM=1):
#                          namespace deletion finishes, GC of ownerReferences, `default`
#                          ServiceAccount + kube-root-ca.crt in every namespace,
#                          EndpointSlices for selector Services (empty: pods get no IPs)
#
# After `up`, $KAS_STATE holds: kubeconfig (admin via client cert, group
# system:masters), ca.crt, admin-token (static bearer token, also system:masters),
# etcd.log, apiserver.log, env (sourceable).
set -euo pipefail

KAS_BIN="${KAS_BIN:-$HOME/.cache/kas-local/bin}"
KAS_STATE="${KAS_STATE:-/tmp/kas-state}"
KAS_ADMISSION_DISABLE="${KAS_ADMISSION_DISABLE-ServiceAccount}"
KAS_READY_TIMEOUT="${KAS_READY_TIMEOUT:-90}"
S="$KAS_STATE"

log() { echo "start.sh: $*" >&2; }

port_bindable() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket,sys;s=socket.socket();s.bind(("127.0.0.1",int(sys.argv[1])));s.close()' "$1" 2>/dev/null
  else
    node -e 'const s=require("net").createServer().on("error",()=>process.exit(1)).listen(+process.argv[1],"127.0.0.1",()=>s.close())' "$1" 2>/dev/null
  fi
}

free_port() {
  # A port below the kernel's ephemeral range (ip_local_port_range), so no outgoing connection
  # can be given it: while the apiserver is down for restart-apiserver, clients retrying
  # 127.0.0.1:PORT get ephemeral local ports, and one of them landing on PORT itself (a TCP
  # self-connect) or any other client holding it would make the restart fail "address already
  # in use" (seen in CI).
  local lo=1024 hi=32767 p
  if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    read -r lo _ < /proc/sys/net/ipv4/ip_local_port_range; hi=$((lo - 1)); lo=$(( hi > 11024 ? hi - 10000 : 1024 ))
  fi
  for _ in $(seq 1 200); do
    p=$(( lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1) ))
    if port_bindable "$p"; then
      echo "$p"; return 0
    fi
  done
  log "no free port in $lo-$hi"; return 1
}

gen_certs() {
  [ -f "$S/pki/.done" ] && return 0
  mkdir -p "$S/pki"; local P="$S/pki"
  ( cd "$P"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
      -keyout ca.key -out ca.crt -subj "/CN=kas-local-ca" 2>/dev/null
    # serving cert: loopback + the in-cluster names/IP of the `kubernetes` Service
    cat > serving.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 3650 -sha256 -extfile serving.ext -out apiserver.crt 2>/dev/null
    # admin client cert: O=system:masters => cluster-admin without any RBAC objects
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > client.ext
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr \
      -subj "/O=system:masters/CN=kas-admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 3650 -sha256 -extfile client.ext -out admin.crt 2>/dev/null
    # service-account token signing key pair
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
    # static token for an admin user (token,user,uid,"group1,group2")
    tok=$(openssl rand -hex 24)
    echo "$tok,kas-admin-token,kas-admin-token-uid,\"system:masters\"" > tokens.csv
    echo "$tok" > ../admin-token
    cp ca.crt ../ca.crt
    rm -f ./*.csr ./*.ext ca.srl
    touch .done )
}

is_running() { [ -f "$1" ] && alive "$(cat "$1")"; }

write_env() {
  cat > "$S/env" <<EOF
export KUBECONFIG=$S/kubeconfig
export KAS_URL=https://127.0.0.1:$KAS_PORT
export KAS_CA=$S/ca.crt
export KAS_TOKEN=$(cat "$S/admin-token")
export KAS_STATE=$S
EOF
}

start_apiserver() { # ETCD_PORT: launch kube-apiserver against it (used by up and restart-apiserver)
  local ep="$1" P="$S/pki" disable=()

  [ -n "$KAS_ADMISSION_DISABLE" ] && disable=(--disable-admission-plugins="$KAS_ADMISSION_DISABLE")
  # shellcheck disable=SC2086
  setsid "$KAS_BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ep" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$KAS_PORT" \
    --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
    --client-ca-file="$P/ca.crt" --token-auth-file="$P/tokens.csv" \
    --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --authorization-mode=RBAC \
    --endpoint-reconciler-type=none \
    --service-cluster-ip-range=10.96.0.0/12 \
    "${disable[@]}" \
    --cert-dir="$S/pki" --profiling=false --v=1 \
    ${KAS_EXTRA_ARGS:-} >"$S/apiserver.log" 2>&1 </dev/null &
  echo $! > "$S/apiserver.pid"
}

up() {
  if is_running "$S/apiserver.pid"; then log "already running"; cat "$S/env"; echo "$S/kubeconfig"; return 0; fi
  for b in kube-apiserver etcd; do
    [ -x "$KAS_BIN/$b" ] || { log "missing $KAS_BIN/$b (run build.sh)"; exit 1; }
  done
  local P="$S/pki"
  mkdir -p "$S"; gen_certs
  local t0 ep pp P="$S/pki"; t0=$(date +%s.%N)
  ep=$(free_port); pp=$(free_port); KAS_PORT="${KAS_PORT:-$(free_port)}"
  rm -rf "$S/etcd-data"
  # etcd: loopback only, single member, no fsync (test data is throwaway)
  setsid "$KAS_BIN/etcd" --name kas --data-dir "$S/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ep" --advertise-client-urls "http://127.0.0.1:$ep" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
    --initial-cluster "kas=http://127.0.0.1:$pp" --initial-cluster-state new \
    --unsafe-no-fsync --log-level warn >"$S/etcd.log" 2>&1 </dev/null &
  echo $! > "$S/etcd.pid"
  echo "$ep" > "$S/etcd.port"
  start_apiserver "$ep"


  cat > "$S/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kas
  cluster:
    server: https://127.0.0.1:$KAS_PORT
    certificate-authority: $P/ca.crt
users:
- name: kas-admin
  user:
    client-certificate: $P/admin.crt
    client-key: $P/admin.key
contexts:
- name: kas
  context: {cluster: kas, user: kas-admin, namespace: default}
current-context: kas
EOF
  write_env

  local deadline=$(( $(date +%s) + KAS_READY_TIMEOUT ))
  until curl -fsS --cacert "$P/ca.crt" -H "Authorization: Bearer $(cat "$S/admin-token")" \
        "https://127.0.0.1:$KAS_PORT/readyz" >/dev/null 2>&1; do
    if ! is_running "$S/apiserver.pid" || ! is_running "$S/etcd.pid" || [ "$(date +%s)" -gt "$deadline" ]; then
      log "not ready; tail of logs:"; tail -n 20 "$S/etcd.log" "$S/apiserver.log" >&2 || true
      KAS_KEEP_STATE=1 down; log "logs kept in $S"; exit 1
    fi
    sleep 0.2
  done
  if [ "${KAS_WITH_KCM:-0}" = 1 ]; then
    [ -x "$KAS_BIN/kube-controller-manager" ] || { log "missing kube-controller-manager (BUILD_KCM=1 build.sh)"; down; exit 1; }
    setsid "$KAS_BIN/kube-controller-manager" --kubeconfig="$S/kubeconfig" \
      --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
      --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 \
      --controllers='*' --v=1 >"$S/kcm.log" 2>&1 </dev/null &
    echo $! > "$S/kcm.pid"
    # ready when the serviceaccount controller has made default/default
    until curl -fsS --cacert "$P/ca.crt" -H "Authorization: Bearer $(cat "$S/admin-token")" \
          "https://127.0.0.1:$KAS_PORT/api/v1/namespaces/default/serviceaccounts/default" >/dev/null 2>&1; do
      if ! is_running "$S/kcm.pid" || [ "$(date +%s)" -gt "$deadline" ]; then
        log "controller-manager not ready:"; tail -n 20 "$S/kcm.log" >&2 || true
        KAS_KEEP_STATE=1 down; exit 1
      fi
      sleep 0.2
    done
  fi
  log "ready on https://127.0.0.1:$KAS_PORT in $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?')s (etcd pid $(cat "$S/etcd.pid"), apiserver pid $(cat "$S/apiserver.pid")${KAS_WITH_KCM:+, kcm pid $(cat "$S/kcm.pid" 2>/dev/null)})"
  echo "$S/kubeconfig"
}

alive() { # a pid that exists and is not a zombie (PID 1 here reaps orphans lazily)
  [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

stop_group() { # SIGNAL PIDFILE... : signal all, wait up to 10s, then KILL
  local sig="$1" f pid pids=() i a; shift
  for f in "$@"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); rm -f "$f"
    alive "$pid" && { kill -"$sig" "$pid" 2>/dev/null || true; pids+=("$pid"); }
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  for i in $(seq 1 100); do
    a=0; for pid in "${pids[@]}"; do alive "$pid" && a=1; done
    [ $a = 0 ] && return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

down() {
  # Order matters: an apiserver whose etcd vanished hangs in shutdown, and etcd
  # waits for its clients; so apiserver (+kcm) first, then etcd. ~3s in total.
  # KAS_STOP_SIGNAL=KILL skips graceful shutdown (state is thrown away anyway).
  stop_group "${KAS_STOP_SIGNAL:-TERM}" "$S/kcm.pid" "$S/apiserver.pid"
  stop_group "${KAS_STOP_SIGNAL:-TERM}" "$S/etcd.pid"
  if [ "${KAS_KEEP_STATE:-0}" != 1 ]; then rm -rf "$S"; fi
}

cmd="${1:-up}"; shift || true
case "$cmd" in
  up)
    # A failed start (any error under set -e) must not leave etcd/kube-apiserver running orphaned.
    trap 'rc=$?; if [ $rc != 0 ]; then KAS_KEEP_STATE=1 down; log "start failed; logs kept in $S"; fi' EXIT
    up
    trap - EXIT ;;
  down) down ;;
  restart-apiserver)
    # Meshward addition: stop the apiserver only (etcd and its data stay) and start it again on
    # KAS_PORT (the same port, so clients reconnect), then wait for /readyz.
    stop_group "${KAS_STOP_SIGNAL:-TERM}" "$S/apiserver.pid"
    # KAS_DOWN_SECONDS: stay down this long before starting again (an outage of a known length).
    sleep "${KAS_DOWN_SECONDS:-0}"
    [ -n "${KAS_PORT:-}" ] || { log "restart-apiserver needs KAS_PORT"; exit 2; }
    start_apiserver "$(cat "$S/etcd.port")"
    deadline=$(( $(date +%s) + KAS_READY_TIMEOUT ))
    until curl -sk --cacert "$S/ca.crt" -H "Authorization: Bearer $(cat "$S/admin-token")" "https://127.0.0.1:$KAS_PORT/readyz" 2>/dev/null | grep -q '^ok$'; do
      [ "$(date +%s)" -gt "$deadline" ] && { log "apiserver not ready after restart"; exit 1; }
      # The port can still be held for a moment (a lingering socket): start again rather than wait out the deadline.
      if ! alive "$(cat "$S/apiserver.pid")" && grep -q "address already in use" "$S/apiserver.log"; then
        log "port $KAS_PORT still in use; starting the apiserver again"; sleep 1
        start_apiserver "$(cat "$S/etcd.port")"
      fi
      sleep 0.2
    done ;;
  env) cat "$S/env" ;;
  exec)
    [ $# -gt 0 ] || { log "usage: start.sh exec CMD..."; exit 2; }
    trap down EXIT
    trap 'exit 130' INT TERM
    up >/dev/null
    # shellcheck disable=SC1091
    . "$S/env"
    set +e; "$@"; rc=$?; set -e
    exit $rc ;;
  *) log "usage: start.sh up|down|env|exec CMD..."; exit 2 ;;
esac
