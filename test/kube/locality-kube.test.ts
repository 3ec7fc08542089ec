// Localities on a real kube-apiserver: Node topology labels give endpoints their locality and a
// proxy its own (from its Pod's Node, not from the locality its xDS node claims); a DestinationRule
// with outlier detection then ranks the endpoint in the proxy's zone first. Relabelling the
// proxy's own Node pushes it a new ranking (no service changed), over a real ADS stream.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { proxyLocality } from "../../src/model/placement.js";
import { TypeUrl } from "../../src/xds/types.js";
import type { DiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { fromBinary } from "@bufbuild/protobuf";
import { kubeApiserverBinaries } from "../support/kube-apiserver.js";
import { createEchoService, createNamespace, createPod, createSlice, startCluster, stopCluster, type TestCluster } from "../support/multicluster.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/proxyless.js";
import { AdsClient } from "../support/ads-client.js";
import { priorities } from "../support/eds-priorities.js";

const HOST = "echo.demo.svc.cluster.local";

describe("localities from Node labels on a real kube-apiserver", function () {
  this.timeout(180_000);
  let c: TestCluster | undefined;
  let cp: ControlPlane | undefined;
  let dir = "";

  const node = (name: string, zone: string) => ({ metadata: { name, labels: { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": zone } } });
  // The client's Pod is on node-c; its xDS node claims another place, which must not count.
  const clientNode = {
    id: "sidecar~10.20.0.9~client.demo~demo.svc.cluster.local",
    metadata: { NAMESPACE: "demo", SERVICE_ACCOUNT: "echo", GENERATOR: "grpc" },
    locality: { region: "r9", zone: "elsewhere", subZone: "" },
  };
  const client = parseProxyNode(clientNode);
  let ads: AdsClient | undefined;

  /** `priority:address` of the echo assignment the client gets now, sorted. */
  const ranking = (): string[] => {
    const encoded = cp!.provider.resources(client, TypeUrl.ClusterLoadAssignment).get(`outbound|7070||${HOST}`);
    assert.ok(encoded !== undefined, "the client gets the echo assignment");
    return priorities(fromBinary(ClusterLoadAssignmentSchema, encoded.bytes));
  };

  before(async function () {
    const bins = kubeApiserverBinaries();
    if ("skip" in bins) {
      console.log(`      skipped: ${bins.skip}`);
      this.skip();
    }
    c = startCluster("Kubernetes");
    await c.client.request("POST", "/api/v1/nodes", node("node-a", "z1"));
    await c.client.request("POST", "/api/v1/nodes", node("node-b", "z2"));
    await c.client.request("POST", "/api/v1/nodes", node("node-c", "z1"));
    await createNamespace(c, "demo");
    await createEchoService(c, "demo");
    await createPod(c, "demo", "echo-a", "10.20.0.1", 7070, {}, "node-a");
    await createPod(c, "demo", "echo-b", "10.20.0.2", 7070, {}, "node-b");
    await createPod(c, "demo", "client", "10.20.0.9", 7070, { app: "client" }, "node-c");
    await createSlice(c, "demo", "echo-a", "10.20.0.1", 7070);
    await createSlice(c, "demo", "echo-b", "10.20.0.2", 7070);
    dir = mkdtempSync(join(tmpdir(), "meshward-locality-kube-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(
      join(dir, "echo-dr.yaml"),
      `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: echo, namespace: demo}\nspec:\n  host: ${HOST}\n  trafficPolicy:\n    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s}\n`,
    );
    cp = await startTestControlPlane(dir, { kubernetes: { kubeconfig: c.kas.kubeconfig, clusterId: "Kubernetes" } });
  });

  after(async () => {
    ads?.close();
    await cp?.stop();
    stopCluster(c);
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  it("gives endpoints their Node's locality and the proxy its Pod's Node's, ranking its own zone first", async () => {
    const localities = await eventually("both echo endpoints with localities", async () => {
      const svc = cp!.provider.snapshot.services.find((s) => s.hostname === HOST);
      const l = (svc?.endpoints ?? []).map((e) => `${e.address}@${e.locality ?? ""}`).sort();
      return l.length === 2 && l.every((x) => !x.endsWith("@")) ? l : undefined;
    }, 60_000);
    assert.deepEqual(localities, ["10.20.0.1@r1/z1", "10.20.0.2@r1/z2"]);
    assert.deepEqual(proxyLocality(cp!.provider.snapshot, client), { region: "r1", zone: "z1", subZone: "" });
    assert.deepEqual(ranking(), ["0:10.20.0.1", "1:10.20.0.2"]);
  });

  it("pushes the proxy a new ranking when its own Node moves to zone z2, though no service changed", async () => {
    ads = new AdsClient(cp!.xdsAddress);
    const stream = ads.sotw(clientNode);
    const name = `outbound|7070||${HOST}`;
    stream.subscribe(TypeUrl.ClusterLoadAssignment, [name]);
    const ranked = (r: DiscoveryResponse): string[] => priorities(fromBinary(ClusterLoadAssignmentSchema, r.resources[0]!.value));
    const first = await stream.next(30_000);
    stream.ack(first);
    assert.deepEqual(ranked(first), ["0:10.20.0.1", "1:10.20.0.2"]);
    const current = await c!.client.request<{ metadata: Record<string, unknown> }>("GET", "/api/v1/nodes/node-c");
    await c!.client.request("PUT", "/api/v1/nodes/node-c", { ...current, metadata: { ...current.metadata, labels: { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "z2" } } });
    const pushed = await stream.next(60_000);
    stream.ack(pushed);
    assert.deepEqual(ranked(pushed), ["0:10.20.0.2", "1:10.20.0.1"]);
    stream.close();
  });
});
