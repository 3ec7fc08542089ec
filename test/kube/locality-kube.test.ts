// Localities on a real kube-apiserver: Node topology labels give endpoints their locality and a
// proxy its own (from its Pod's Node, not from the locality its xDS node claims); a DestinationRule
// with outlier detection then ranks the endpoint in the proxy's zone first. Relabelling a Node
// moves its pod's endpoint and the ranking follows.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { proxyLocality } from "../../src/model/placement.js";
import { TypeUrl } from "../../src/xds/types.js";
import type { ClusterLoadAssignment } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { fromBinary } from "@bufbuild/protobuf";
import { kubeApiserverBinaries } from "../support/kube-apiserver.js";
import { createEchoService, createNamespace, createPod, createSlice, startCluster, stopCluster, type TestCluster } from "../support/multicluster.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { eventually } from "../support/proxyless.js";

const HOST = "echo.demo.svc.cluster.local";

describe("localities from Node labels on a real kube-apiserver", function () {
  this.timeout(180_000);
  let c: TestCluster | undefined;
  let cp: ControlPlane | undefined;
  let dir = "";

  const node = (name: string, zone: string) => ({ metadata: { name, labels: { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": zone } } });
  // The client's Pod is on node-a; its xDS node claims another place, which must not count.
  const client = parseProxyNode({
    id: "sidecar~10.20.0.9~client.demo~demo.svc.cluster.local",
    metadata: { NAMESPACE: "demo", SERVICE_ACCOUNT: "echo", GENERATOR: "grpc" },
    locality: { region: "r9", zone: "elsewhere", subZone: "" },
  });

  /** `priority:address` of the echo assignment the client gets now, sorted. */
  const ranking = (): string[] => {
    const encoded = cp!.provider.resources(client, TypeUrl.ClusterLoadAssignment).get("outbound|7070||" + HOST);
    assert.ok(encoded !== undefined, "the client gets the echo assignment");
    const cla: ClusterLoadAssignment = fromBinary(ClusterLoadAssignmentSchema, encoded.bytes);
    return cla.endpoints.flatMap((l) => l.lbEndpoints.map((e) => `${l.priority}:${e.hostIdentifier.case === "endpoint" && e.hostIdentifier.value.address?.address.case === "socketAddress" ? e.hostIdentifier.value.address.address.value.address : "?"}`)).sort();
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
    await createNamespace(c, "demo");
    await createEchoService(c, "demo");
    await createPod(c, "demo", "echo-a", "10.20.0.1", 7070, {}, "node-a");
    await createPod(c, "demo", "echo-b", "10.20.0.2", 7070, {}, "node-b");
    await createPod(c, "demo", "client", "10.20.0.9", 7070, { app: "client" }, "node-a");
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

  it("follows a Node's relabelling: node-b moved to zone z1 puts both endpoints at priority 0", async () => {
    const current = await c!.client.request<{ metadata: Record<string, unknown> }>("GET", "/api/v1/nodes/node-b");
    await c!.client.request("PUT", "/api/v1/nodes/node-b", { ...current, metadata: { ...current.metadata, labels: { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "z1" } } });
    const r = await eventually("echo-b's endpoint in z1", async () => {
      const now = ranking();
      return now.every((x) => x.startsWith("0:")) ? now : undefined;
    }, 60_000);
    assert.deepEqual(r, ["0:10.20.0.1", "0:10.20.0.2"]);
  });
});
