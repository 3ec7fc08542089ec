// End to end with the real @grpc/grpc-js-xds: locality load balancing. A proxyless client in zone
// A calls a service with one endpoint in zone A and one in zone B; with outlier detection on the
// DestinationRule (locality LB is on by default in MeshConfig), meshward gives A's endpoint
// priority 0 and B's priority 1, so the client calls only A's until A's server stops, then fails
// over to B (grpc-js-xds implements EDS priorities). A client in zone B is served B's first: the
// two proxies do not share an assignment.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { EchoClient, EchoServer, eventually, expectValidForNode, freePort, type NodeSpec } from "../support/proxyless.js";
import { echoHost, serviceEntry, workloadEntry } from "../support/echo-config.js";

const destinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: ${echoHost}
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s}
`;

/** Who answered `calls` calls, as a set of names. */
async function answers(client: EchoClient, calls: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < calls; i++) seen.add(await client.call(5000));
  return seen;
}

describe("e2e: locality failover for proxyless gRPC (grpc-js-xds)", function () {
  this.timeout(120_000);
  let dir: string;
  let cp: ControlPlane;
  const servers: EchoServer[] = [];
  const clients: EchoClient[] = [];
  const clientA: NodeSpec = { ip: "127.0.0.101", pod: "client-a", namespace: "default", locality: "region1/zone-a" };
  const clientB: NodeSpec = { ip: "127.0.0.102", pod: "client-b", namespace: "default", locality: "region1/zone-b" };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-locality-e2e-"));
    const [pa, pb] = [await freePort(), await freePort()];
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "echo.yaml"), [serviceEntry(), workloadEntry("echo-a", pa, "region1/zone-a"), workloadEntry("echo-b", pb, "region1/zone-b"), destinationRule].join("---\n"));
    cp = await startTestControlPlane(dir);
    const node = (pod: string): NodeSpec => ({ ip: "127.0.0.1", pod, namespace: "default", labels: { app: "echo" } });
    const a = new EchoServer("a", cp.xdsAddress, node("echo-a"));
    const b = new EchoServer("b", cp.xdsAddress, node("echo-b"));
    servers.push(a, b);
    await Promise.all([a.start(`127.0.0.1:${pa}`), b.start(`127.0.0.1:${pb}`)]);
    clients.push(new EchoClient(`${echoHost}:7070`, cp.xdsAddress, clientA), new EchoClient(`${echoHost}:7070`, cp.xdsAddress, clientB));
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const s of servers) s.stop();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends a zone-A client's calls only to zone A's endpoint, and a zone-B client's only to zone B's", async () => {
    await eventually("client-a answered", async () => ((await clients[0]!.call(5000)) === "a" ? true : undefined), 60_000);
    assert.deepEqual([...(await answers(clients[0]!, 20))], ["a"]);
    await eventually("client-b answered", async () => ((await clients[1]!.call(5000)) === "b" ? true : undefined), 60_000);
    assert.deepEqual([...(await answers(clients[1]!, 20))], ["b"]);
    expectValidForNode(cp, clientA);
  });

  it("fails the zone-A client over to zone B when zone A's server stops, its endpoint still in EDS", async () => {
    servers[0]!.stop();
    const seen = await eventually("client-a failing over to b", async () => {
      try {
        const s = await answers(clients[0]!, 4);
        return s.has("b") ? s : undefined;
      } catch {
        return undefined; // calls in flight while A's connection drops may fail
      }
    }, 60_000);
    assert.deepEqual([...seen], ["b"]);
    assert.equal(cp.provider.snapshot.services.find((s) => s.hostname === echoHost)!.endpoints.length, 2, "A's endpoint is still in the registry");
  });
});
