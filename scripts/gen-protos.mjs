// Generates TypeScript for Envoy's xDS API and meshward's own protos into src/gen/ (git-ignored).
//
// Envoy's protos come from the registry package @grpc/grpc-js-xds (deps/), which ships
// envoy-api, xds, googleapis and protoc-gen-validate at pinned commits. Its validate.proto is
// older than its Envoy protos (StringRules.ignore_empty is missing), so the set is staged into
// build/proto-deps/ and that one field is added to the staged copy. Nothing third-party is
// committed; the stage and the output are rebuilt when the inputs change.
//
// The SPIFFE Workload API (proto/spiffe/workload/workload.proto, no proto package: the service is
// `SpiffeWorkloadAPI`) comes from the Go module github.com/spiffe/go-spiffe/v2 at a pinned version,
// fetched with `go mod download` (GOPROXY as configured), for the node agent's identity socket.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, statSync, readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const deps = join(root, "node_modules/@grpc/grpc-js-xds/deps");
const stage = join(root, "build/proto-deps");
const out = join(root, "src/gen");

// The Envoy/xds roots meshward uses; their import closure is generated with them.
const envoyRoots = [
  "envoy/service/discovery/v3",
  "envoy/service/secret/v3",
  "envoy/service/cluster/v3",
  "envoy/service/listener/v3",
  "envoy/service/route/v3",
  "envoy/service/endpoint/v3",
  "envoy/service/load_stats/v3",
  "envoy/service/status/v3",
  "envoy/config/listener/v3",
  "envoy/config/route/v3",
  "envoy/config/cluster/v3",
  "envoy/config/endpoint/v3",
  "envoy/config/core/v3",
  "envoy/config/rbac/v3",
  "envoy/config/bootstrap/v3",
  "envoy/admin/v3",
  "envoy/extensions/transport_sockets/tls/v3",
  "envoy/extensions/transport_sockets/raw_buffer/v3",
  "envoy/extensions/filters/network/http_connection_manager/v3",
  "envoy/extensions/filters/network/rbac/v3",
  "envoy/extensions/filters/network/tcp_proxy/v3",
  "envoy/extensions/filters/network/ext_authz/v3",
  "envoy/extensions/filters/http/router/v3",
  "envoy/extensions/filters/http/rbac/v3",
  "envoy/extensions/filters/http/fault/v3",
  "envoy/extensions/filters/http/ext_authz/v3",
  "envoy/extensions/filters/http/cors/v3",
  "envoy/extensions/filters/http/grpc_stats/v3",
  "envoy/extensions/request_id/uuid/v3",
  "envoy/extensions/retry/host/previous_hosts/v3",
  "envoy/extensions/filters/listener/tls_inspector/v3",
  "envoy/extensions/filters/listener/original_dst/v3",
  "envoy/extensions/filters/listener/http_inspector/v3",
  "envoy/extensions/clusters/aggregate/v3",
  "envoy/extensions/load_balancing_policies/round_robin/v3",
  "envoy/extensions/load_balancing_policies/ring_hash/v3",
  "envoy/extensions/load_balancing_policies/wrr_locality/v3",
  "envoy/extensions/load_balancing_policies/least_request/v3",
  "envoy/extensions/load_balancing_policies/pick_first/v3",
  "envoy/extensions/path/match/uri_template/v3",
  "envoy/extensions/access_loggers/file/v3",
  "envoy/extensions/upstreams/http/v3",
  "envoy/type/v3",
  "envoy/type/matcher/v3",
  "envoy/type/metadata/v3",
  "envoy/type/tracing/v3",
];
const otherRoots = ["validate/validate.proto", "google/rpc/status.proto"];
const GO_SPIFFE = "github.com/spiffe/go-spiffe/v2@v2.9.0";
const WORKLOAD_PROTO = "proto/spiffe/workload/workload.proto";

/** The directory of the go-spiffe module in Go's module cache, downloading it if needed. */
function goSpiffeDir() {
  const candidates = ["go", "/usr/local/go/bin/go"];
  let lastError;
  for (const go of candidates) {
    try {
      const info = JSON.parse(execFileSync(go, ["mod", "download", "-json", GO_SPIFFE], { cwd: root, encoding: "utf8", env: { ...process.env, GOFLAGS: "-mod=mod" } }));
      if (info.Error) throw new Error(info.Error);
      return info.Dir;
    } catch (e) {
      lastError = e;
    }
  }
  throw new Error(`gen-protos: the SPIFFE Workload API proto needs Go to fetch ${GO_SPIFFE}: ${lastError?.message ?? lastError}`);
}

function hashTree(dir, h) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) hashTree(p, h);
    else if (name.endsWith(".proto") || name.endsWith(".mjs") || name.endsWith(".yaml")) {
      h.update(p.slice(root.length));
      h.update(readFileSync(p));
    }
  }
}

const h = createHash("sha256");
h.update(readFileSync(fileURLToPath(import.meta.url)));
h.update(readFileSync(join(root, "node_modules/@grpc/grpc-js-xds/package.json")));
h.update(readFileSync(join(root, "node_modules/@bufbuild/protoc-gen-es/package.json")));
hashTree(join(root, "proto"), h);
const digest = h.digest("hex");
const stamp = join(out, ".stamp");
const index = join(out, "all_files.ts");
if (existsSync(stamp) && existsSync(index) && readFileSync(stamp, "utf8") === digest) {
  console.log("gen-protos: up to date");
  process.exit(0);
}

rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
for (const d of ["envoy-api", "xds", "googleapis", "protoc-gen-validate"]) {
  cpSync(join(deps, d), join(stage, d), { recursive: true, filter: (src) => !src.includes("/tests") && !src.includes("/java") });
}
// googleapis' own copy of the well-known types would clash with buf's built-in ones.
rmSync(join(stage, "googleapis/google/protobuf"), { recursive: true, force: true });

const validate = join(stage, "protoc-gen-validate/validate/validate.proto");
let v = readFileSync(validate, "utf8");
if (!v.includes("ignore_empty")) {
  // Field 26 of StringRules in current PGV; Envoy's protos set it.
  v = v.replace(/(message StringRules \{[\s\S]*?)(\r?\n\}\r?\n)/, "$1\n    optional bool ignore_empty = 26;$2");
  if (!v.includes("ignore_empty")) throw new Error("gen-protos: could not patch StringRules in validate.proto");
  writeFileSync(validate, v);
}

cpSync(join(root, "proto"), join(stage, "meshward"), { recursive: true });
mkdirSync(join(stage, "spiffe"), { recursive: true });
cpSync(join(goSpiffeDir(), WORKLOAD_PROTO), join(stage, "spiffe", "workload.proto"));
const modules = ["envoy-api", "xds", "googleapis", "protoc-gen-validate", "meshward", "spiffe"].map((d) => `  - path: ${d}`);
writeFileSync(
  join(stage, "buf.yaml"),
  ["version: v2", "modules:", ...modules, ""].join("\n"),
);
const paths = [
  ...envoyRoots.map((r) => `envoy-api/${r}`),
  ...otherRoots.map((r) => (r.startsWith("validate/") ? `protoc-gen-validate/${r}` : `googleapis/${r}`)),
  ...readdirSync(join(root, "proto")).map((d) => `meshward/${d}`),
  "spiffe/workload.proto",
];
writeFileSync(
  join(stage, "buf.gen.yaml"),
  [
    "version: v2",
    "clean: true",
    "plugins:",
    `  - local: ${join(root, "node_modules/.bin/protoc-gen-es")}`,
    `    out: ${out}`,
    "    include_imports: true",
    "    opt: [target=ts, import_extension=js, json_types=false]",
    "inputs:",
    "  - directory: .",
    "    paths:",
    ...paths.map((p) => `      - ${p}`),
    "",
  ].join("\n"),
);

const t0 = Date.now();
execFileSync(join(root, "node_modules/.bin/buf"), ["generate"], { cwd: stage, stdio: "inherit" });
writeAllFilesIndex();
writeFileSync(stamp, digest);
console.log(`gen-protos: generated into src/gen in ${((Date.now() - t0) / 1000).toFixed(1)}s`);

// src/gen/all_files.ts lists every generated file descriptor, so a registry that resolves
// google.protobuf.Any (src/validate/) sees the whole generated API without a hand-kept list.
function writeAllFilesIndex() {
  const found = [];
  (function walk(dir) {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith("_pb.ts")) {
        // Extensions named file_* (e.g. udpa's file_status) are not files: match the GenFile type.
        const m = /^export const (file_\w+): GenFile\b/m.exec(readFileSync(p, "utf8"));
        if (m) found.push({ symbol: m[1], module: "./" + p.slice(out.length + 1).replace(/\.ts$/, ".js") });
      }
    }
  })(out);
  const lines = [
    "// Generated by scripts/gen-protos.mjs. Every generated file descriptor.",
    'import type { GenFile } from "@bufbuild/protobuf/codegenv2";',
    ...found.map((f) => `import { ${f.symbol} } from "${f.module}";`),
    "",
    "export const allGeneratedFiles: readonly GenFile[] = [",
    ...found.map((f) => `  ${f.symbol},`),
    "];",
    "",
  ];
  writeFileSync(index, lines.join("\n"));
}
