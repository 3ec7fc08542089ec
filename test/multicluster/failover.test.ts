// Failover across clusters: a DestinationRule with outlier detection and
// `localityLbSetting.failoverPriority: [topology.istio.io/cluster]` gives each proxy its own
// cluster's endpoints at priority 0 and the other clusters' after them; priorities run without
// gaps; without outlier detection there is no failover (as in Istio). Every assignment passes
// Envoy's validate.rules and grpc-js-xds's checks.
import { strict as assert } from "node:assert";
import { buildSnapshot } from "../../src/mesh/model.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import type { ConfigObject } from "../../src/model/config.js";
import { assignmentFor, istioFile as file, priorities as ranked } from "../support/eds-priorities.js";

const endpoint = (address: string, cluster: string) => ({ address, labels: { "topology.istio.io/cluster": cluster }, serviceAccount: "reviews" });
const reviews = file("ServiceEntry", "reviews", {
  hosts: ["reviews.default.svc.cluster.local"],
  ports: [{ number: 9080, name: "grpc", protocol: "GRPC" }],
  location: "MESH_INTERNAL",
  resolution: "STATIC",
  endpoints: [endpoint("10.1.0.1", "cluster-a"), endpoint("10.2.0.1", "cluster-b"), endpoint("10.3.0.1", "cluster-c")],
});
const rule = (outlierDetection: boolean) =>
  file("DestinationRule", "reviews", {
    host: "reviews.default.svc.cluster.local",
    trafficPolicy: { loadBalancer: { localityLbSetting: { failoverPriority: ["topology.istio.io/cluster"] } }, ...(outlierDetection ? { outlierDetection: { consecutive5xxErrors: 3, interval: "1s", baseEjectionTime: "30s" } } : {}) },
  });
const proxy = (cluster: string, generator?: string) =>
  parseProxyNode({ id: `sidecar~10.9.0.1~client-1.default~default.svc.cluster.local`, metadata: { NAMESPACE: "default", CLUSTER_ID: cluster, ...(generator ? { GENERATOR: generator } : {}) } });

/** `priority:address` of the reviews assignment the proxy gets, sorted. */
const priorities = (objects: ConfigObject[], p: ReturnType<typeof proxy>): string[] =>
  ranked(assignmentFor(buildSnapshot({ objects, errors: [] }), p, "outbound|9080||reviews.default.svc.cluster.local"));

describe("failover across clusters (failoverPriority)", () => {
  it("puts a proxy's own cluster's endpoints first and the other clusters' after them", () => {
    assert.deepEqual(priorities([reviews, rule(true)], proxy("cluster-a")), ["0:10.1.0.1", "1:10.2.0.1", "1:10.3.0.1"]);
    assert.deepEqual(priorities([reviews, rule(true)], proxy("cluster-b", "grpc")), ["0:10.2.0.1", "1:10.1.0.1", "1:10.3.0.1"]);
  });

  it("renumbers priorities without gaps when no endpoint shares the proxy's cluster", () => {
    assert.deepEqual(priorities([reviews, rule(true)], proxy("cluster-z")), ["0:10.1.0.1", "0:10.2.0.1", "0:10.3.0.1"]);
  });

  it("asks for no failover without outlier detection, as Istio", () => {
    assert.deepEqual(priorities([reviews, rule(false)], proxy("cluster-a")), ["0:10.1.0.1", "0:10.2.0.1", "0:10.3.0.1"]);
  });
});
