#!/usr/bin/env bash
# Everything a fresh machine (Debian, root, package registries only) needs to build and test
# meshward: system packages for the eBPF agent and the tests, npm packages, generated code, build.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pair in clang:clang llc:llvm bpftool:bpftool openssl:openssl pkg-config:pkg-config ip:iproute2; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}")
done
[ -f /usr/include/bpf/libbpf.h ] || need_apt+=(libbpf-dev)
[ -f /usr/include/gelf.h ] || need_apt+=(libelf-dev)
[ -f /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
# A real browser for the web console's tests (playwright-core drives it; nothing is downloaded).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# PostgreSQL server binaries for the shared audit trail's tests (serve --audit-db); no service is started.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing system packages (${need_apt[*]}); run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build

[ -x /usr/local/go/bin/go ] && export PATH="$PATH:/usr/local/go/bin"
# grpc-go test peer (test/interop/grpc-go): fetch its modules from the Go module proxy now, so the
# tests only compile it (about a minute on 2 cores, once per change of the module; cached in $TMPDIR).
if command -v go >/dev/null 2>&1; then
  (cd test/interop/grpc-go && GOFLAGS=-mod=mod go mod download)
  # istiod oracle (test/oracle): istio.io/istio's pilot as a Go module; the tests compile it
  # (about 4 minutes cold on 2 cores, once per change of the module; cached in $TMPDIR).
  (cd test/oracle && GOFLAGS=-mod=mod go mod download)
else
  echo "setup: go not found; the grpc-go interop and istiod oracle tests will skip (and fail when CI=true)" >&2
fi

# Kubernetes test peer (test/kube/): a real kube-apiserver + etcd built from the Go module proxy
# into ~/.cache/kas-local/bin (about 8 minutes cold on 2 cores; a no-op once built), and the
# istio.io/api module whose CRDs the Kubernetes tests apply.
if command -v go >/dev/null 2>&1; then
  command -v curl >/dev/null 2>&1 || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq curl >/dev/null; }
  bash test/kube/build.sh
  (cd /tmp && GOFLAGS=-mod=mod go mod download istio.io/api@v1.32.0)
fi

# go-spiffe test peer (test/interop/go-spiffe): the SPIFFE Workload API client the node identity
# tests run against the agent's socket; fetched now, compiled by the tests (cached in $TMPDIR).
if command -v go >/dev/null 2>&1; then
  (cd test/interop/go-spiffe && GOFLAGS=-mod=mod go mod download)
fi
