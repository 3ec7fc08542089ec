// `meshward serve` as a user runs it (the real bin, a child process), on a temporary mesh-config,
// with an Envoy-like sidecar speaking ADS (wildcard CDS/LDS, then EDS/RDS by name), the
// monitoring endpoints, a config edit that reaches the sidecar as an EDS-only push, and SIGTERM.
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromBinary } from "@bufbuild/protobuf";
import { AdsClient, responseNames, sidecarNode, type SotwClientStream } from "../support/ads-client.js";
import { eventually } from "../support/eventually.js";
import { MESHWARD_BIN } from "../support/meshward-cli.js";
import { expectEnvoyValid } from "../support/envoy-valid.js";
import { TypeUrl } from "../../src/xds/types.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import type { DiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

describe("e2e: meshward serve with an Envoy-style sidecar over ADS", function () {
  this.timeout(60_000);
  let dir: string;
  let child: ChildProcess;
  let output = "";
  let xdsAddress = "";
  let monitoring = "";
  let ads: AdsClient;
  let stream: SotwClientStream;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-serve-"));
    cpSync(join(root, "mesh-config"), dir, { recursive: true });
    child = spawn(process.execPath, [MESHWARD_BIN, "serve", "--config-dir", dir, "--xds-address", "127.0.0.1:0", "--tls-address", "127.0.0.1:0", "--monitoring-address", "127.0.0.1:0", "--console-address", "127.0.0.1:0", "--data-dir", join(dir, ".data")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (b: Buffer) => (output += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (output += b.toString()));
    const m = await eventually("the serving line", () => /serving xDS on (\S+), monitoring on http:\/\/(\S+),/.exec(output) ?? undefined);
    xdsAddress = m[1]!;
    monitoring = m[2]!;
  });

  after(async () => {
    stream?.cancel();
    ads?.close();
    if (child && child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  async function receive(typeUrl: string): Promise<DiscoveryResponse> {
    for (;;) {
      const r = await stream.next();
      for (const a of r.resources) expectEnvoyValid(a.typeUrl, a.value, `${a.typeUrl} in a response`);
      stream.ack(r);
      if (r.typeUrl === typeUrl) return r;
    }
  }

  it("serves health and readiness", async () => {
    assert.equal((await fetch(`http://${monitoring}/healthz`)).status, 200);
    assert.equal((await fetch(`http://${monitoring}/readyz`)).status, 200);
    assert.equal((await fetch(`http://${monitoring}/nope`)).status, 404);
  });

  it("a sidecar of reviews-v1 gets Istio's clusters, endpoints, listeners and routes", async () => {
    ads = new AdsClient(xdsAddress);
    const node = sidecarNode("reviews-v1", "default", "127.0.0.11");
    stream = ads.sotw({ ...node, metadata: { ...node.metadata, SERVICE_ACCOUNT: "reviews", LABELS: { app: "reviews", version: "v1" } } });
    stream.subscribe(TypeUrl.Cluster, []);
    const cds = await receive(TypeUrl.Cluster);
    const clusters = responseNames(cds);
    for (const c of ["outbound|9080||reviews.default.svc.cluster.local", "outbound|9080|v2|reviews.default.svc.cluster.local", "inbound|9081||", "PassthroughCluster", "BlackHoleCluster"]) {
      assert.ok(clusters.includes(c), `CDS has ${c}: ${clusters.join(", ")}`);
    }
    const edsNames = clusters.filter((c) => c.startsWith("outbound|"));
    stream.subscribe(TypeUrl.ClusterLoadAssignment, edsNames);
    const eds = await receive(TypeUrl.ClusterLoadAssignment);
    assert.deepEqual(responseNames(eds).sort(), [...edsNames].sort());
    stream.subscribe(TypeUrl.Listener, []);
    const lds = await receive(TypeUrl.Listener);
    assert.deepEqual(responseNames(lds).sort(), ["0.0.0.0_7070", "0.0.0.0_9080", "240.240.0.20_5432", "virtualInbound", "virtualOutbound"]);
    stream.subscribe(TypeUrl.RouteConfiguration, ["9080", "7070"]);
    const rds = await receive(TypeUrl.RouteConfiguration);
    assert.deepEqual(responseNames(rds).sort(), ["7070", "9080"]);
  });

  // Same service account as the other endpoint: a new identity would change the clusters' SAN lists.
  it("an endpoint added to the config dir arrives as an EDS push for that service only", async () => {
    const file = join(dir, "bookinfo.yaml");
    writeFileSync(file, readFileSync(file, "utf8").replace("  - address: 127.0.0.14\n    serviceAccount: db\n", "  - address: 127.0.0.14\n    serviceAccount: db\n  - address: 127.0.0.15\n    serviceAccount: db\n"));
    const r = await stream.next(15_000);
    stream.ack(r);
    assert.equal(r.typeUrl, TypeUrl.ClusterLoadAssignment, "only EDS changes");
    const db = r.resources.map((a) => fromBinary(ClusterLoadAssignmentSchema, a.value)).find((c) => c.clusterName === "outbound|5432||db.default.svc.cluster.local");
    assert.ok(db, `the db assignment is in the push: ${responseNames(r).join(", ")}`);
    const addresses = db.endpoints.flatMap((l) => l.lbEndpoints.map((e) => (e.hostIdentifier.case === "endpoint" && e.hostIdentifier.value.address?.address.case === "socketAddress" ? e.hostIdentifier.value.address.address.value.address : "")));
    assert.deepEqual(addresses, ["127.0.0.14", "127.0.0.15"]);
  });

  it("exports Prometheus metrics and debug config", async () => {
    const metrics = await (await fetch(`http://${monitoring}/metrics`)).text();
    assert.match(metrics, /^pilot_xds 1$/m);
    // Node's process metrics (prom-client) and the CA's under Istio's names.
    assert.match(metrics, /^process_cpu_seconds_total [0-9.e+-]+$/m);
    assert.match(metrics, /^# TYPE citadel_server_csr_count counter$/m);
    assert.match(metrics, /^pilot_proxy_convergence_time_count [1-9]/m);
    assert.match(metrics, /^meshward_config_reloads_total 2$/m);
    assert.match(metrics, /^meshward_xds_acks_total\{type="eds"\} [1-9]/m);
    const debug = (await (await fetch(`http://${monitoring}/debug/config`)).json()) as { generation: number; errors: string[]; proxies: number };
    assert.equal(debug.generation, 2);
    assert.deepEqual(debug.errors, []);
    assert.equal(debug.proxies, 1);
  });

  it("shows what a proxy would receive on /debug/resources", async () => {
    const q = new URLSearchParams({ id: "sidecar~127.0.0.13~ratings-0.default~default.svc.cluster.local", GENERATOR: "grpc", LABELS: '{"app":"ratings"}' });
    const res = await fetch(`http://${monitoring}/debug/resources?${q}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { listeners: { name: string }[] };
    assert.ok(body.listeners.some((l) => l.name === "xds.istio.io/grpc/lds/inbound/127.0.0.13:7070"));
    assert.equal((await fetch(`http://${monitoring}/debug/resources?id=nonsense`)).status, 400);
  });

  it("exits cleanly on SIGTERM", async () => {
    const code = new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    child.kill("SIGTERM");
    assert.equal(await code, 0, output);
  });
});
