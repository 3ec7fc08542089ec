// Locality load balancing against istiod's own translation (the oracle): one ServiceEntry with
// endpoints in several regions, zones and subzones, under each kind of localityLbSetting (mesh
// default, failover, failoverPriority with failover, distribute, enabled: false, MeshConfig's own),
// for proxies placed by their node's `locality` (the oracle's --locality) and by topology labels.
// The EDS each proxy gets must equal istiod's, but for one written-down choice: a locality a
// `distribute` rule leaves out keeps an empty entry in istiod's output and none in meshward's.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { FileSource } from "../../src/sources/file.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { parseLocality } from "../../src/model/locality.js";
import { dumpResources } from "../../src/translate/dump.js";
import { istiodOracleOrSkip, oracleGenerate, type OracleNode } from "../support/istiod-oracle.js";
import { compareResources } from "./compare.js";

const serviceEntry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, locality: r1/z1/s1, labels: {tier: gold}}
  - {address: 10.0.0.2, locality: r1/z1/s2, labels: {tier: silver}}
  - {address: 10.0.0.3, locality: r1/z2, labels: {tier: gold}}
  - {address: 10.0.0.4, locality: r2/z1, labels: {tier: silver}, weight: 3}
  - {address: 10.0.0.5, locality: r3/z1, labels: {tier: gold}}
  - {address: 10.0.0.6, labels: {tier: gold}}
`;
const rule = (trafficPolicy: string): string => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy:
${trafficPolicy}`;
const outlier = "    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s}\n";

const cases: { readonly name: string; readonly config: string; readonly mesh?: string }[] = [
  { name: "mesh default with outlier detection", config: rule(outlier) },
  { name: "no outlier detection", config: rule("    connectionPool: {tcp: {maxConnections: 10}}\n") },
  { name: "failover r1 to r3", config: rule(`${outlier}    loadBalancer: {localityLbSetting: {failover: [{from: r1, to: r3}, {from: r2, to: r1}]}}\n`) },
  { name: "failoverPriority with failover", config: rule(`${outlier}    loadBalancer: {localityLbSetting: {failoverPriority: [tier], failover: [{from: r1, to: r2}]}}\n`) },
  { name: "failoverPriority with a fixed value", config: rule(`${outlier}    loadBalancer: {localityLbSetting: {failoverPriority: [tier=silver]}}\n`) },
  { name: "distribute", config: rule(`    loadBalancer: {localityLbSetting: {distribute: [{from: "r1/z1/*", to: {"r1/z1/*": 70, "r2/z1": 30}}, {from: "*", to: {r3: 100}}]}}\n`) },
  { name: "enabled false", config: rule(`${outlier}    loadBalancer: {localityLbSetting: {enabled: false}}\n`) },
  { name: "MeshConfig failover", config: rule(outlier), mesh: "localityLbSetting:\n  failover: [{from: r1, to: r3}]\n" },
  { name: "MeshConfig disabled", config: rule(outlier), mesh: "localityLbSetting: {enabled: false}\n" },
];

/** Proxies in several places, told by their node's locality or by their topology labels. */
const places: readonly { readonly name: string; readonly locality?: string; readonly labels: Readonly<Record<string, string>> }[] = [
  { name: "r1/z1/s1 by node locality", locality: "r1/z1/s1", labels: {} },
  { name: "r2/z1 by node locality", locality: "r2/z1", labels: {} },
  { name: "r1/z2 by topology labels", labels: { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "z2" } },
  { name: "no locality", labels: {} },
];
const proxies: readonly (OracleNode & { readonly name: string })[] = places.map((p) => ({
  name: p.name,
  id: "sidecar~10.9.0.1~client-1.default~default.svc.cluster.local",
  metadata: { NAMESPACE: "default", SERVICE_ACCOUNT: "client", LABELS: { app: "client", tier: "gold", ...p.labels } },
  ...(p.locality !== undefined ? { locality: p.locality } : {}),
}));

/** Leaves out the localities istiod empties for `distribute` (meshward sends none). */
function withoutEmptyLocalities(eds: readonly JsonObject[]): JsonObject[] {
  return eds.map((r) => (Array.isArray(r["endpoints"]) ? { ...r, endpoints: (r["endpoints"] as JsonValue[]).filter((l) => typeof l === "object" && l !== null && !Array.isArray(l) && Array.isArray(l["lbEndpoints"]) && l["lbEndpoints"].length > 0) } : r));
}

describe("fidelity: locality load balancing against istiod's own translation", function () {
  let oracle = "";
  before(async function () {
    oracle = await istiodOracleOrSkip(this);
  });

  for (const c of cases) {
    it(`${c.name}: every proxy's EDS equals istiod's`, function () {
      this.timeout(120_000);
      const dir = mkdtempSync(join(tmpdir(), "meshward-oracle-locality-"));
      try {
        writeFileSync(join(dir, "reviews.yaml"), serviceEntry + c.config);
        if (c.mesh !== undefined) writeFileSync(join(dir, "mesh.yaml"), c.mesh);
        const snapshot = buildSnapshot(new FileSource({ dir, log: () => {} }).load());
        assert.deepEqual(snapshot.errors.filter((e) => e.severity === "error"), []);
        let prioritised = 0;
        for (const p of proxies) {
          const l = parseLocality(p.locality);
          const ours = dumpResources(snapshot, parseProxyNode({ id: p.id, metadata: p.metadata, locality: l }));
          const theirs = oracleGenerate(oracle, dir, p);
          const eds = (ours["endpoints"] ?? []) as JsonObject[];
          assert.ok(theirs.eds.length > 0 && eds.length > 0, "both sides produce assignments");
          const left = compareResources({ lds: [], cds: [], rds: [], eds: withoutEmptyLocalities(theirs.eds) }, { lds: [], cds: [], rds: [], eds }, new Set(), { caseName: c.name, proxyNamespace: "default" });
          assert.deepEqual(left, [], `${p.name}: ${left.length} differences from istiod:\n  ${left.join("\n  ")}`);
          if (JSON.stringify(eds).includes('"priority"')) prioritised++;
        }
        // The cases that ask for priorities must get them somewhere (else the comparison proves little).
        const expectsPriorities = c.config.includes("outlierDetection") && !c.name.includes("disabled") && !c.name.includes("enabled false");
        assert.equal(prioritised > 0, expectsPriorities, `priorities in ${prioritised} of ${proxies.length} proxies' EDS`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
