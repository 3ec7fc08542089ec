// The comparison itself can fail: a changed field, a missing resource and an unlisted extension
// are reported with their path, while orders Envoy ignores and listed differences are not.
import { strict as assert } from "node:assert";
import type { JsonObject } from "@bufbuild/protobuf";
import { compareResources, reachableFromListeners, type ResourcesByType } from "./compare.js";

const ctx = { caseName: "unit", proxyNamespace: "default" };

function resources(partial: Partial<Record<keyof ResourcesByType, JsonObject[]>>): ResourcesByType {
  return { lds: [], cds: [], rds: [], eds: [], ...partial };
}

const chain = (name: string, port: number): JsonObject => ({ name, filterChainMatch: { destinationPort: port }, filters: [] });

describe("oracle comparison (compare.ts)", () => {
  it("reports a field that differs with its JSON path and both values", () => {
    const left = compareResources(resources({ cds: [{ name: "c", connectTimeout: "10s" }] }), resources({ cds: [{ name: "c", connectTimeout: "5s" }] }), new Set(), ctx);
    assert.deepEqual(left, ['cds c.connectTimeout: istiod "10s" | meshward "5s"']);
  });

  it("reports a resource only one side has", () => {
    const left = compareResources(resources({ rds: [{ name: "80" }] }), resources({ rds: [{ name: "8080" }] }), new Set(), ctx);
    assert.deepEqual(left, ["rds 80: only istiod has it", "rds 8080: only meshward has it"]);
  });

  it("ignores the order of filter chains but not their contents", () => {
    const a = resources({ lds: [{ name: "l", filterChains: [chain("a", 1), chain("b", 2)] }] });
    assert.deepEqual(compareResources(a, resources({ lds: [{ name: "l", filterChains: [chain("b", 2), chain("a", 1)] }] }), new Set(), ctx), []);
    assert.equal(compareResources(a, resources({ lds: [{ name: "l", filterChains: [chain("b", 3), chain("a", 1)] }] }), new Set(), ctx).length, 1);
  });

  it("explains a listed difference (SDS from pilot-agent) and records that it was used, but not an unlisted HTTP filter", () => {
    const used = new Set<string>();
    const sds = (config: JsonObject): JsonObject => ({ name: "c", connectTimeout: "10s", transportSocket: { tlsCertificateSdsSecretConfigs: [{ name: "default", sdsConfig: config }] } });
    const istiod = resources({ cds: [sds({ apiConfigSource: { apiType: "GRPC" }, resourceApiVersion: "V3" })] });
    assert.deepEqual(compareResources(istiod, resources({ cds: [sds({ ads: {}, resourceApiVersion: "V3" })] }), used, ctx), []);
    assert.ok(used.has("sds-over-ads"));
    const hcm = (filters: string[]): JsonObject => ({ name: "l", httpFilters: filters.map((name) => ({ name })) });
    assert.equal(compareResources(resources({ lds: [hcm(["envoy.filters.http.lua", "router"])] }), resources({ lds: [hcm(["router"])] }), new Set(), ctx).length, 1);
    assert.deepEqual(compareResources(resources({ lds: [hcm(["istio.alpn", "router"])] }), resources({ lds: [hcm(["router"])] }), new Set(), ctx), []);
  });

  it("follows a proxyless client's references from listeners to routes, clusters and assignments", () => {
    const all = resources({
      lds: [{ name: "a:80", apiListener: { apiListener: { rds: { routeConfigName: "r" } } } }],
      rds: [{ name: "r", virtualHosts: [{ routes: [{ route: { cluster: "c" } }] }] }, { name: "unused" }],
      cds: [{ name: "c", edsClusterConfig: { serviceName: "c" } }, { name: "subset" }],
      eds: [{ clusterName: "c" }, { clusterName: "subset" }],
    });
    const r = reachableFromListeners(all);
    assert.deepEqual([r.rds.map((x) => x["name"]), r.cds.map((x) => x["name"]), r.eds.map((x) => x["clusterName"])], [["r"], ["c"], ["c"]]);
  });
});
