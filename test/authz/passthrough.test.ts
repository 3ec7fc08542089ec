// Authorization on an Envoy sidecar's passthrough chains (traffic to ports no service declares).
// istiod builds them through the same inboundChainForOpts as service chains, so they carry the
// workload's RBAC: HTTP RBAC on `virtualInbound-catchall-http`, network RBAC on `virtualInbound`
// (HTTP-only rule fields handled as on any TCP chain). Without it a DENY-all (and meshward's
// quarantine overlay) was bypassed by calling an undeclared port.
import { strict as assert } from "node:assert";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { type MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { translate } from "../../src/translate/index.js";
import { resourceRegistry } from "../../src/translate/registry.js";
import { TypeUrl } from "../../src/xds/types.js";
import { ListenerSchema, type Listener } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import type { FilterChain } from "../../src/gen/envoy/config/listener/v3/listener_components_pb.js";
import type { HttpConnectionManager } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { RBAC as NetworkRbac } from "../../src/gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js";
import type { RBAC as HttpRbac } from "../../src/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";

function obj(kind: string, name: string, spec: unknown, apiVersion: string): ConfigObject {
  return { apiVersion, kind, metadata: { name, namespace: "shop", labels: {}, annotations: {} }, spec, origin: { file: "/cfg/x.yaml" } };
}

const service = obj("ServiceEntry", "web", {
  hosts: ["web.shop.svc.cluster.local"],
  location: "MESH_INTERNAL",
  ports: [{ number: 8080, name: "http", protocol: "HTTP" }],
  resolution: "STATIC",
  endpoints: [{ address: "10.0.0.7", serviceAccount: "web" }],
}, "networking.istio.io/v1");

const proxy = parseProxyNode({ id: "sidecar~10.0.0.7~web-0.shop~shop.svc.cluster.local", metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: "web", LABELS: { app: "web" } } });

function virtualInbound(...objects: ConfigObject[]): Listener {
  const s: MeshSnapshot = buildSnapshot({ objects: [service, ...objects], errors: [], mesh: { doc: {}, file: "/cfg/mesh.yaml" } });
  assert.deepEqual(s.errors, []);
  const l = (translate(s, proxy).get(TypeUrl.Listener) ?? []).map((r) => {
    const { schema, message } = r.build();
    return fromBinary(ListenerSchema, toBinary(schema, message));
  }).find((x) => x.name === "virtualInbound");
  assert.ok(l, "the sidecar has virtualInbound");
  return l;
}

/** The RBAC configs of a chain, in order: network RBAC filters, or the HCM's HTTP RBAC filters. */
function rbacOf(fc: FilterChain): { kind: "network" | "http"; rbac: NetworkRbac | HttpRbac }[] {
  const out: { kind: "network" | "http"; rbac: NetworkRbac | HttpRbac }[] = [];
  for (const f of fc.filters) {
    if (f.configType.case !== "typedConfig") continue;
    if (f.name === "envoy.filters.network.rbac") out.push({ kind: "network", rbac: anyUnpack(f.configType.value, resourceRegistry) as NetworkRbac });
    if (f.name === "envoy.filters.network.http_connection_manager") {
      const hcm = anyUnpack(f.configType.value, resourceRegistry) as HttpConnectionManager;
      for (const h of hcm.httpFilters) {
        if (h.name === "envoy.filters.http.rbac" && h.configType.case === "typedConfig") out.push({ kind: "http", rbac: anyUnpack(h.configType.value, resourceRegistry) as HttpRbac });
      }
    }
  }
  return out;
}

const passthroughNames = new Set(["virtualInbound", "virtualInbound-catchall-http"]);

describe("authz on sidecar passthrough chains", () => {
  it("a DENY-all reaches every passthrough chain (TCP and detected HTTP, every mTLS option)", () => {
    const l = virtualInbound(obj("AuthorizationPolicy", "deny-all", { action: "DENY", rules: [{}] }, "security.istio.io/v1"));
    const passthrough = l.filterChains.filter((fc) => passthroughNames.has(fc.name));
    // PERMISSIVE, detected protocol: five chains (two HTTP, three TCP).
    assert.equal(passthrough.length, 5);
    for (const fc of passthrough) {
      const rbacs = rbacOf(fc);
      assert.equal(rbacs.length, 1, `${fc.name} ${fc.filterChainMatch?.transportProtocol} has one RBAC filter`);
      const { kind, rbac } = rbacs[0]!;
      assert.equal(kind, fc.name === "virtualInbound" ? "network" : "http");
      assert.equal(rbac.rules?.action, 1 /* DENY */);
      assert.deepEqual(Object.keys(rbac.rules?.policies ?? {}), ["ns[shop]-policy[deny-all]-rule[0]"]);
    }
  });

  it("HTTP-only ALLOW fields: kept on the catch-all HTTP chain, the rule skipped (deny all) on the TCP chain, as on a TCP service chain", () => {
    const l = virtualInbound(obj("AuthorizationPolicy", "get-only", { action: "ALLOW", rules: [{ to: [{ operation: { methods: ["GET"] } }] }] }, "security.istio.io/v1"));
    const http = l.filterChains.filter((fc) => fc.name === "virtualInbound-catchall-http");
    const tcp = l.filterChains.filter((fc) => fc.name === "virtualInbound");
    assert.ok(http.length > 0 && tcp.length > 0);
    for (const fc of http) assert.deepEqual(Object.keys(rbacOf(fc)[0]!.rbac.rules!.policies), ["ns[shop]-policy[get-only]-rule[0]"]);
    for (const fc of tcp) {
      const [r] = rbacOf(fc);
      assert.equal(r?.kind, "network");
      assert.equal(r.rbac.rules?.action, 0 /* ALLOW */);
      assert.deepEqual(Object.keys(r.rbac.rules?.policies ?? {}), [], "no rule left: all TCP traffic denied");
    }
  });

  it("no policy, no RBAC filter on passthrough chains", () => {
    const l = virtualInbound();
    for (const fc of l.filterChains.filter((x) => passthroughNames.has(x.name))) assert.deepEqual(rbacOf(fc), []);
  });
});
