// CSDS and the commands that read it (`meshward proxy-status`, `proxy-config`) against the real
// control plane on the embedded mesh-config: raw ADS clients whose ACKs and NACKs the test decides,
// a real grpc-js-xds client, and tokens for the caller checks. The private key of an SDS secret
// must never appear in an answer.
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { ClientStatusDiscoveryService, ClientStatusRequestSchema, ClientStatusResponseSchema, ConfigStatus, type ClientConfig, type ClientStatusResponse } from "../../src/gen/envoy/service/status/v3/csds_pb.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { authorizeCsdsCaller, CsdsAccessError } from "../../src/debug/csds.js";
import { proxySyncStates } from "../../src/cli/proxy-status.js";
import { grpcServiceDefinition } from "../../src/signals/grpc-definition.js";
import { TokenKey } from "../../src/security/token-key.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, type SotwClientStream, type TestNode } from "../support/ads-client.js";
import { startTestControlPlane, tlsAdsClient } from "../support/control-plane.js";
import { eventually } from "../support/eventually.js";
import { repoRoot } from "../support/grpc-go-peer.js";
import { runMeshward } from "../support/meshward-cli.js";
import { EchoClient } from "../support/proxyless.js";

const reviewsV1: TestNode = {
  id: "sidecar~127.0.0.11~reviews-v1.default~default.svc.cluster.local",
  metadata: { NAMESPACE: "default", SERVICE_ACCOUNT: "reviews", LABELS: { app: "reviews", version: "v1" } },
};

function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  return md;
}

function fetchStatus(client: grpc.Client, init: Parameters<typeof create<typeof ClientStatusRequestSchema>>[1] = {}, md = new grpc.Metadata()): Promise<ClientStatusResponse> {
  const def = grpcServiceDefinition(ClientStatusDiscoveryService)["FetchClientStatus"]!;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(def.path, (v: unknown) => Buffer.from(toBinary(ClientStatusRequestSchema, v as never)), (b: Buffer) => fromBinary(ClientStatusResponseSchema, b),
      create(ClientStatusRequestSchema, init), md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res!))),
  );
}

function configOf(res: ClientStatusResponse, id: string): ClientConfig {
  const c = res.config.find((x) => x.node?.id === id);
  assert.ok(c, `CSDS lists ${id}; it lists ${res.config.map((x) => x.node?.id).join(", ")}`);
  return c;
}

/** Reads and ACKs responses until one of `typeUrl` has arrived and been ACKed; returns it. */
async function ackUntil(s: SotwClientStream, typeUrl: string) {
  for (;;) {
    const r = await s.next();
    s.ack(r);
    if (r.typeUrl === typeUrl) return r;
  }
}

describe("CSDS, proxy-status and proxy-config", function () {
  this.timeout(60_000);
  let dir: string;
  let cp: ControlPlane;
  let plain: AdsClient;
  let tls: AdsClient;
  let tokens: TokenKey;
  const streams: SotwClientStream[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-csds-"));
    cpSync(join(repoRoot(), "mesh-config"), dir, { recursive: true });
    cp = await startTestControlPlane(dir, { tlsAddress: "127.0.0.1:0" });
    tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    plain = new AdsClient(cp.xdsAddress);
    tls = tlsAdsClient(cp);
  });

  after(async () => {
    for (const s of streams) s.cancel();
    plain?.close();
    tls?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a sidecar that ACKed its clusters and listeners is SYNCED for both, with each resource by name", async () => {
    const s = plain.sotw(reviewsV1);
    streams.push(s);
    s.subscribe(TypeUrl.Cluster, []);
    const clusters = await ackUntil(s, TypeUrl.Cluster);
    s.subscribe(TypeUrl.Listener, []);
    await ackUntil(s, TypeUrl.Listener);
    const res = await eventually("both types SYNCED", async () => {
      const r = await fetchStatus(plain.client);
      const st = proxySyncStates(configOf(r, reviewsV1.id));
      return st["CDS"] === "SYNCED" && st["LDS"] === "SYNCED" ? r : undefined;
    });
    const c = configOf(res, reviewsV1.id);
    const cds = c.genericXdsConfigs.filter((g) => g.typeUrl === TypeUrl.Cluster);
    assert.equal(cds.length, clusters.resources.length, "one CSDS entry per cluster sent");
    assert.ok(cds.some((g) => g.name === "outbound|9080||reviews.default.svc.cluster.local" && g.xdsConfig !== undefined));
    assert.deepEqual(proxySyncStates(c)["EDS"], "NOT SENT", "a type never asked for is NOT SENT");
  });

  it("a NACKed type is reported with the proxy's error, and an unanswered one as STALE", async () => {
    const node: TestNode = { ...reviewsV1, id: "sidecar~127.0.0.12~reviews-v2.default~default.svc.cluster.local", metadata: { ...reviewsV1.metadata, LABELS: { app: "reviews", version: "v2" } } };
    const s = plain.sotw(node);
    streams.push(s);
    s.subscribe(TypeUrl.Cluster, []);
    const r = await s.next();
    assert.equal(r.typeUrl, TypeUrl.Cluster);
    let c = configOf(await fetchStatus(plain.client), node.id);
    assert.equal(proxySyncStates(c)["CDS"], "STALE", "sent but not answered yet");
    s.nack(r, "cluster outbound|9080||x: bad thing");
    c = await eventually("CDS NACKED", async () => {
      const x = configOf(await fetchStatus(plain.client), node.id);
      return proxySyncStates(x)["CDS"] === "NACKED" ? x : undefined;
    });
    const g = c.genericXdsConfigs.find((x) => x.typeUrl === TypeUrl.Cluster)!;
    assert.equal(g.configStatus, ConfigStatus.ERROR);
    assert.match(g.errorState?.details ?? "", /bad thing/);
  });

  it("node matchers select proxies by id, and excluded contents leave the resources out", async () => {
    const res = await fetchStatus(plain.client, { nodeMatchers: [{ nodeId: { matchPattern: { case: "prefix", value: "sidecar~127.0.0.11~" } } }], excludeResourceContents: true });
    assert.deepEqual(res.config.map((c) => c.node?.id), [reviewsV1.id]);
    assert.ok(res.config[0]!.genericXdsConfigs.length > 0);
    assert.ok(res.config[0]!.genericXdsConfigs.every((g) => g.xdsConfig === undefined));
  });

  it("an SDS secret is listed with its certificate and never its private key", async () => {
    const node: TestNode = { id: "sidecar~127.0.0.13~details-v1.default~default.svc.cluster.local", metadata: { NAMESPACE: "default", SERVICE_ACCOUNT: "details" } };
    const s = plain.sotw(node, undefined, bearer(tokens.mint({ namespace: "default", serviceAccount: "details", ttlSeconds: 600 })));
    streams.push(s);
    s.subscribe(TypeUrl.Secret, ["default", "ROOTCA"]);
    let key = "";
    for (;;) {
      const r = await s.next();
      s.ack(r);
      const d = r.resources.map((a) => fromBinary(SecretSchema, a.value)).find((x) => x.name === "default");
      if (d?.type.case === "tlsCertificate" && d.type.value.privateKey?.specifier.case === "inlineBytes") {
        key = Buffer.from(d.type.value.privateKey.specifier.value).toString();
        break;
      }
    }
    assert.match(key, /PRIVATE KEY/);
    const res = await eventually("SDS SYNCED", async () => {
      const r = await fetchStatus(plain.client);
      return proxySyncStates(configOf(r, node.id))["SDS"] === "SYNCED" ? r : undefined;
    });
    const bytes = Buffer.from(toBinary(ClientStatusResponseSchema, res)).toString("latin1");
    assert.ok(!bytes.includes("PRIVATE KEY"), "no private key in the CSDS answer");
    const shown = configOf(res, node.id).genericXdsConfigs.find((g) => g.name === "default")!;
    const secret = fromBinary(SecretSchema, shown.xdsConfig!.value);
    assert.ok(secret.type.case === "tlsCertificate");
    assert.deepEqual(secret.type.value.privateKey?.specifier, { case: "inlineString", value: "[redacted]" });
    assert.ok(secret.type.value.certificateChain?.specifier.case === "inlineBytes");
  });

  it("a real grpc-js-xds client shows SYNCED for listeners, routes, clusters and endpoints", async () => {
    const node = { ip: "127.0.0.14", pod: "productpage-v1", namespace: "default", serviceAccount: "productpage" };
    const client = new EchoClient("reviews.default.svc.cluster.local:9080", cp.xdsAddress, node);
    try {
      client.call(300).catch(() => undefined); // the lookup starts the client's xDS exchange
      await eventually("all four types SYNCED for the grpc client", async () => {
        const r = await fetchStatus(plain.client);
        const c = r.config.find((x) => x.node?.id.includes("productpage-v1"));
        if (c === undefined) return undefined;
        const st = proxySyncStates(c);
        return ["LDS", "RDS", "CDS", "EDS"].every((t) => st[t] === "SYNCED") || undefined;
      });
    } finally {
      client.close();
    }
  });

  it("an identity outside the control plane's namespace is refused, one inside it is admitted over TLS", async () => {
    const other = bearer(tokens.mint({ namespace: "default", serviceAccount: "reviews", ttlSeconds: 600 }));
    await assert.rejects(fetchStatus(tls.client, {}, other), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED && /istio-system/.test(e.details));
    await assert.rejects(fetchStatus(tls.client, {}, bearer("not-a-token")), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
    const admin = bearer(tokens.mint({ namespace: "istio-system", serviceAccount: "operator", ttlSeconds: 600 }));
    const res = await fetchStatus(tls.client, {}, admin);
    assert.ok(res.config.some((c) => c.node?.id === reviewsV1.id));
  });

  it("a caller off loopback without credentials is refused", async () => {
    const sources = { streams: () => [], resources: cp.xds.provider, authenticators: [] };
    await assert.rejects(authorizeCsdsCaller(sources, { metadata: new grpc.Metadata(), peer: "10.1.2.3:4567" }), (e: CsdsAccessError) => e.code === grpc.status.UNAUTHENTICATED);
    await authorizeCsdsCaller(sources, { metadata: new grpc.Metadata(), peer: "127.0.0.1:4567" });
  });

  it("meshward proxy-status prints one row per proxy with its state per type", async () => {
    const r = await runMeshward("proxy-status", "--server", cp.xdsAddress);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0]!, /^NAME\s+CLUSTER\s+CDS\s+EDS\s+LDS\s+RDS\s+SDS$/);
    const row = lines.find((l) => l.startsWith(reviewsV1.id));
    assert.ok(row, r.stdout);
    assert.match(row, /Kubernetes\s+SYNCED\s+NOT SENT\s+SYNCED\s+NOT SENT\s+NOT SENT/);
    const one = await runMeshward("proxy-status", "reviews-v2.default", "--server", cp.xdsAddress, "-o", "json");
    assert.equal(one.code, 0, one.stderr);
    assert.equal(JSON.parse(one.stdout.trim()).CDS, "NACKED");
  });

  it("meshward proxy-config lists a proxy's clusters as a table and as proto3 JSON", async () => {
    const table = await runMeshward("proxy-config", "reviews-v1.default", "clusters", "--server", cp.xdsAddress);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^SERVICE FQDN\s+PORT\s+SUBSET\s+DIRECTION\s+TYPE/);
    assert.match(table.stdout, /reviews\.default\.svc\.cluster\.local\s+9080\s+outbound\s+EDS/);
    const json = await runMeshward("proxy-config", "clusters", "reviews-v1", "--server", cp.xdsAddress, "-o", "json");
    assert.equal(json.code, 0, json.stderr);
    const names = (JSON.parse(json.stdout) as Array<{ name: string }>).map((c) => c.name);
    assert.ok(names.includes("outbound|9080||reviews.default.svc.cluster.local"), names.join(","));
    const missing = await runMeshward("proxy-config", "no-such-pod", "clusters", "--server", cp.xdsAddress);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no connected proxy matches "no-such-pod"/);
  });

  it("meshward proxy-config secrets shows the certificate's serial and expiry", async () => {
    const r = await runMeshward("proxy-config", "details-v1", "secrets", "--server", cp.xdsAddress);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^RESOURCE NAME\s+TYPE\s+STATUS\s+SERIAL NUMBER\s+NOT AFTER\s+NOT BEFORE/);
    assert.match(r.stdout, /\ndefault\s+Cert Chain\s+SYNCED\s+[0-9a-f]+\s+\d{4}-/);
    assert.match(r.stdout, /\nROOTCA\s+CA\s+SYNCED\s+[0-9a-f]+/);
  });
});
