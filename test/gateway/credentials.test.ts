// Gateway credentials (tls.credentialName) through `startControlPlane`, as `meshward serve
// --gateway-credentials DIR` runs it: a router proxy that authenticated as a workload of a
// namespace gets the credentials its Gateways' servers name, from that namespace only, over its
// ADS stream; an unauthenticated one gets none; a missing credential is an error naming it, and a
// key file others could read is refused.
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { TokenKey } from "../../src/security/token-key.js";
import { SecretSchema, type Secret } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { TypeUrl } from "../../src/xds/types.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { AdsClient, bearer, type SotwClientStream, type TestNode } from "../support/ads-client.js";
import { startTestControlPlane, tlsAdsClient } from "../support/control-plane.js";

const gateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["shop.example.com"]
    tls: {mode: SIMPLE, credentialName: shop-cert}
  - port: {number: 443, name: https-mtls, protocol: HTTPS}
    hosts: ["partners.example.com"]
    tls: {mode: MUTUAL, credentialName: partners-cert}
  - port: {number: 8443, name: https-missing, protocol: HTTPS}
    hosts: ["missing.example.com"]
    tls: {mode: SIMPLE, credentialName: not-there}
`;

/** Stand-ins for PEM blocks: SDS carries the bytes as they are, which is what is checked. */
const pem = (what: string): string => `-----BEGIN ${what}-----\n${Buffer.from(`${what} ${Math.random()}`).toString("base64")}\n-----END ${what}-----\n`;

function router(pod: string, ns: string): TestNode {
  return { id: `router~127.0.0.31~${pod}.${ns}~${ns}.svc.cluster.local`, metadata: { NAMESPACE: ns, SERVICE_ACCOUNT: "ingress", LABELS: { istio: "ingressgateway" } } };
}

/** Reads responses (ACKing them), collecting every secret sent, until `done` holds. */
async function collect(s: SotwClientStream, done: (byName: Map<string, Secret>) => boolean, timeoutMs = 15_000): Promise<Map<string, Secret>> {
  const byName = new Map<string, Secret>();
  const deadline = Date.now() + timeoutMs;
  while (!done(byName)) {
    const r = await s.next(Math.max(1, deadline - Date.now()));
    s.ack(r);
    if (r.typeUrl !== TypeUrl.Secret) continue;
    for (const a of r.resources) {
      const secret = fromBinary(SecretSchema, a.value);
      byName.set(secret.name, secret);
    }
  }
  return byName;
}

function keyPair(s: Secret | undefined): { chain: string; key: string } | undefined {
  if (s?.type.case !== "tlsCertificate") return undefined;
  const chain = s.type.value.certificateChain?.specifier;
  const key = s.type.value.privateKey?.specifier;
  return chain?.case === "inlineBytes" && key?.case === "inlineBytes" ? { chain: Buffer.from(chain.value).toString(), key: Buffer.from(key.value).toString() } : undefined;
}

function trustedCa(s: Secret | undefined): string | undefined {
  if (s?.type.case !== "validationContext") return undefined;
  const ca = s.type.value.trustedCa?.specifier;
  return ca?.case === "inlineBytes" ? Buffer.from(ca.value).toString() : undefined;
}

describe("gateway credentials over SDS in meshward serve", function () {
  this.timeout(60_000);
  let dir: string;
  let cp: ControlPlane;
  let tokens: TokenKey;
  let tls: AdsClient;
  let plain: AdsClient;
  const streams: SotwClientStream[] = [];
  const logged: string[] = [];
  const files: Record<string, string> = {};

  const credential = (ns: string, name: string, parts: Record<string, string>, keyMode = 0o600): void => {
    const at = join(dir, "credentials", ns, name);
    mkdirSync(at, { recursive: true });
    for (const [file, text] of Object.entries(parts)) {
      writeFileSync(join(at, file), text, { mode: file === "tls.key" ? keyMode : 0o644 });
      if (file === "tls.key") chmodSync(join(at, file), keyMode);
      files[`${ns}/${name}/${file}`] = text;
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-gateway-credentials-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    writeFileSync(join(dir, "gateway.yaml"), gateway);
    credential("istio-system", "shop-cert", { "tls.crt": pem("CERTIFICATE"), "tls.key": pem("PRIVATE KEY") });
    credential("istio-system", "partners-cert", { "tls.crt": pem("CERTIFICATE"), "tls.key": pem("PRIVATE KEY") });
    credential("istio-system", "partners-cert-cacert", { "ca.crt": pem("CERTIFICATE") });
    credential("team-b", "shop-cert", { "tls.crt": pem("CERTIFICATE"), "tls.key": pem("PRIVATE KEY") });
    // A key anyone on the machine may read is not served.
    credential("team-b", "partners-cert", { "tls.crt": pem("CERTIFICATE"), "tls.key": pem("PRIVATE KEY") }, 0o644);
    cp = await startTestControlPlane(dir, {
      tlsAddress: "127.0.0.1:0",
      gatewayCredentialsDir: join(dir, "credentials"),
      log: (line: string) => void logged.push(line),
    });
    tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    tls = tlsAdsClient(cp);
    plain = new AdsClient(cp.xdsAddress);
  });

  after(async () => {
    for (const s of streams) s.cancel();
    tls?.close();
    plain?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (client: AdsClient, n: TestNode, md?: grpc.Metadata): SotwClientStream => {
    const s = client.sotw(n, undefined, md);
    streams.push(s);
    return s;
  };

  const asked = ["kubernetes://shop-cert", "kubernetes://partners-cert", "kubernetes://partners-cert-cacert", "kubernetes://not-there", "kubernetes://team-b/shop-cert"];

  it("an authenticated gateway of istio-system gets its servers' key pairs and the MUTUAL server's client CA from <name>-cacert, and no other namespace's credential", async () => {
    const s = open(tls, router("ingress-1", "istio-system"), bearer(tokens.mint({ namespace: "istio-system", serviceAccount: "ingress" })));
    s.subscribe(TypeUrl.Secret, asked);
    const got = await collect(s, (m) => m.has("kubernetes://shop-cert") && m.has("kubernetes://partners-cert") && m.has("kubernetes://partners-cert-cacert"));
    assert.deepEqual(keyPair(got.get("kubernetes://shop-cert")), { chain: files["istio-system/shop-cert/tls.crt"], key: files["istio-system/shop-cert/tls.key"] });
    assert.deepEqual(keyPair(got.get("kubernetes://partners-cert")), { chain: files["istio-system/partners-cert/tls.crt"], key: files["istio-system/partners-cert/tls.key"] });
    assert.equal(trustedCa(got.get("kubernetes://partners-cert-cacert")), files["istio-system/partners-cert-cacert/ca.crt"]);
    await assert.rejects(collect(s, (m) => m.has("kubernetes://team-b/shop-cert") || m.has("kubernetes://not-there"), 1500), /no response/);
  });

  it("the same Gateway selecting a gateway of team-b gives it team-b's credential of that name, never istio-system's; a key readable by others is refused", async () => {
    const s = open(tls, router("ingress-b", "team-b"), bearer(tokens.mint({ namespace: "team-b", serviceAccount: "ingress" })));
    s.subscribe(TypeUrl.Secret, asked);
    const got = await collect(s, (m) => m.has("kubernetes://shop-cert"));
    assert.deepEqual(keyPair(got.get("kubernetes://shop-cert")), { chain: files["team-b/shop-cert/tls.crt"], key: files["team-b/shop-cert/tls.key"] });
    assert.ok(!got.has("kubernetes://partners-cert"), "the 0644 key was not loaded");
    assert.ok(logged.some((l) => /gateway credential team-b\/partners-cert: key .*tls\.key: mode 0644 gives group or others access/.test(l)), logged.join("\n"));
  });

  it("over the same ADS stream the gateway gets its listeners and the routes they name, as istiod names them", async () => {
    const s = open(tls, router("ingress-3", "istio-system"), bearer(tokens.mint({ namespace: "istio-system", serviceAccount: "ingress" })));
    s.subscribe(TypeUrl.Listener, []);
    const listeners = await s.next(15_000);
    s.ack(listeners);
    assert.equal(listeners.typeUrl, TypeUrl.Listener);
    const names = listeners.resources.map((a) => fromBinary(ListenerSchema, a.value).name).sort();
    assert.deepEqual(names, ["0.0.0.0_443", "0.0.0.0_8443"]);
    s.subscribe(TypeUrl.RouteConfiguration, ["https.443.https.ingress.istio-system", "https.443.https-mtls.ingress.istio-system", "https.8443.https-missing.ingress.istio-system"]);
    const routes = await s.next(15_000);
    assert.equal(routes.typeUrl, TypeUrl.RouteConfiguration);
    assert.deepEqual(routes.resources.map((a) => fromBinary(RouteConfigurationSchema, a.value).name).sort(), ["https.443.https-mtls.ingress.istio-system", "https.443.https.ingress.istio-system", "https.8443.https-missing.ingress.istio-system"]);
  });

  it("a gateway that did not authenticate gets no credential, and a missing one is an error naming it and the namespace", async () => {
    const anon = open(plain, router("ingress-2", "istio-system"));
    anon.subscribe(TypeUrl.Secret, asked);
    await assert.rejects(collect(anon, (m) => [...m.keys()].some((k) => k.startsWith("kubernetes://")), 2000), /no response/);
    assert.ok(logged.some((l) => /gateway credential kubernetes:\/\/not-there: no Secret istio-system\/not-there/.test(l)), logged.join("\n"));
    assert.ok(!logged.some((l) => l.includes(files["istio-system/shop-cert/tls.key"]!.split("\n")[1]!)), "no key material is logged");
  });
});
