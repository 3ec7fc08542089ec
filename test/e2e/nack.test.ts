// An invalid resource reaches a real grpc-js-xds client: the client NACKs it, meshward records the
// NACK (metric and log), does not send the rejected version again, and the client keeps working
// on its last accepted config. The translator never emits such a resource (golden and e2e tests
// hold it to grpc-js-xds' rules), so a decorator stands in for a translator bug: it rewrites the
// cluster with an lb_policy grpc-js-xds refuses (MAGLEV).
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ClusterSchema, Cluster_LbPolicy } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { FileSource } from "../../src/sources/file.js";
import { ConfigMerge } from "../../src/sources/merge.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { MeshResourceProvider } from "../../src/mesh/provider.js";
import { XdsServer, type XdsNackEvent, type XdsPushEvent } from "../../src/xds/server.js";
import { encodedResource } from "../../src/xds/resource.js";
import { Metrics } from "../../src/telemetry/metrics.js";
import { TypeUrl, type EncodedResource, type ProxyChange, type ResourceProvider } from "../../src/xds/types.js";
import type { Proxy } from "../../src/model/proxy.js";
import { EchoClient, EchoServer, eventually, freePort } from "../support/proxyless.js";
import { serviceEntry, workloadEntry } from "../support/echo-config.js";

class ClusterBreakingProvider implements ResourceProvider {
  broken = false;
  private readonly listeners = new Set<(c: ProxyChange) => void>();
  constructor(private readonly inner: MeshResourceProvider) {
    inner.onChange((c) => this.notify(c));
  }
  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    const m = this.inner.resources(proxy, typeUrl);
    if (!this.broken || typeUrl !== TypeUrl.Cluster) return m;
    const out = new Map<string, EncodedResource>();
    for (const [name, r] of m) {
      const c = fromBinary(ClusterSchema, r.bytes);
      c.lbPolicy = Cluster_LbPolicy.MAGLEV;
      out.set(name, encodedResource(typeUrl, name, toBinary(ClusterSchema, c)));
    }
    return out;
  }
  onChange(l: (c: ProxyChange) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  notify(c: ProxyChange = { all: true }): void {
    for (const l of this.listeners) l(c);
  }
}

describe("e2e: a NACK from a real grpc-js-xds client", function () {
  this.timeout(60_000);
  let dir: string;
  let source: FileSource;
  let grpcServer: grpc.Server;
  let xds: XdsServer;
  let backend: EchoServer;
  let client: EchoClient;
  const logs: string[] = [];
  const metrics = new Metrics();
  const pushes: XdsPushEvent[] = [];
  const nacks: XdsNackEvent[] = [];
  let breaker: ClusterBreakingProvider;

  after(() => {
    client?.close();
    backend?.stop();
    xds?.close();
    grpcServer?.forceShutdown();
    source?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("is recorded, not resent, and the client keeps its last good config", async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-nack-"));
    const port = await freePort();
    writeFileSync(join(dir, "echo.yaml"), [serviceEntry(), workloadEntry("echo-1", port, "local/a")].join("---\n"));
    const provider = new MeshResourceProvider();
    breaker = new ClusterBreakingProvider(provider);
    source = new FileSource({ dir, debounceMs: 20, log: (l) => logs.push(l) });
    new ConfigMerge([source], (set) => provider.update(buildSnapshot(set, provider.snapshot))).start();
    xds = new XdsServer({ provider: breaker, metrics, debounceMs: 20, log: (l) => logs.push(l) });
    xds.on("push", (e) => pushes.push(e));
    xds.on("nack", (e) => nacks.push(e));
    grpcServer = new grpc.Server();
    xds.addTo(grpcServer);
    const xdsPort = await new Promise<number>((res, rej) => grpcServer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    const xdsAddress = `127.0.0.1:${xdsPort}`;

    backend = new EchoServer("backend-1", xdsAddress, { ip: "127.0.0.1", pod: "echo", namespace: "default" });
    await backend.start(`127.0.0.1:${port}`);
    client = new EchoClient("echo.default.svc.cluster.local:7070", xdsAddress, { ip: "127.0.0.100", pod: "client", namespace: "default" });
    assert.equal(await client.call(), "backend-1");
    assert.equal(nacks.length, 0);

    breaker.broken = true;
    breaker.notify();
    const nack = await eventually("the client's CDS NACK", () => nacks.find((n) => n.typeUrl === TypeUrl.Cluster));
    assert.match(nack.error, /lb_policy|MAGLEV|lb policy/i);
    assert.equal(metrics.counter("meshward_xds_nacks_total", "").get({ type: "cds" }), 1);
    assert.ok(logs.some((l) => l.includes("NACK") && l.includes(nack.proxyId)), "the NACK is logged");

    // More change notifications with the same (rejected) content: nothing is resent.
    const pushesAfterNack = pushes.filter((p) => p.typeUrl === TypeUrl.Cluster && p.streamId === nack.streamId && p.timeMs > nack.timeMs).length;
    breaker.notify();
    breaker.notify({ all: false, affects: () => true });
    await new Promise((r) => setTimeout(r, 300));
    const resent = pushes.filter((p) => p.typeUrl === TypeUrl.Cluster && p.streamId === nack.streamId && p.timeMs > nack.timeMs);
    assert.equal(resent.length, pushesAfterNack, `rejected CDS was resent: ${JSON.stringify(resent.map((p) => p.version))}`);
    assert.equal(nacks.length, 1);
    assert.equal(await client.call(), "backend-1", "the client still works on its last accepted cluster");

    // A fix is pushed and accepted.
    breaker.broken = false;
    breaker.notify();
    await eventually("a new CDS push after the fix", () =>
      pushes.find((p) => p.typeUrl === TypeUrl.Cluster && p.streamId === nack.streamId && p.timeMs > nack.timeMs) ? true : undefined,
    );
    assert.equal(await client.call(), "backend-1");
    assert.equal(nacks.length, 1);
  });
});
