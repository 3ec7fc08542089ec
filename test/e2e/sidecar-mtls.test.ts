// An Envoy-style sidecar of the embedded mesh under STRICT mTLS, over `meshward serve`'s TLS port
// with a token: every SDS secret its listeners and clusters reference is delivered on the same
// ADS stream (Envoy waits forever for a missing one: initial_fetch_timeout 0s), for its own
// identity, and every resource passes Envoy's validation rules.
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { X509Certificate } from "node:crypto";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane, tlsAdsClient } from "../support/control-plane.js";
import { TokenKey } from "../../src/security/token-key.js";
import { uriSans } from "../../src/security/certificate-authenticator.js";
import { resourceRegistry } from "../../src/translate/registry.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, type SotwClientStream } from "../support/ads-client.js";
import { expectEnvoyValid } from "../support/envoy-valid.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/** Names of every SdsSecretConfig in a JSON-encoded resource. */
function sdsNames(v: JsonValue, under = ""): string[] {
  if (Array.isArray(v)) return v.flatMap((x) => sdsNames(x, under));
  if (v === null || typeof v !== "object") return [];
  const own = /SdsSecretConfigs?$/.test(under) && typeof v["name"] === "string" ? [v["name"]] : [];
  return [...own, ...Object.entries(v).flatMap(([k, x]) => sdsNames(x, k))];
}

describe("e2e: an Envoy sidecar under STRICT gets every secret it references", function () {
  this.timeout(60_000);
  let dir: string;
  let cp: ControlPlane;
  let ads: AdsClient;
  let stream: SotwClientStream;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-sidecar-mtls-"));
    cpSync(join(root, "mesh-config"), dir, { recursive: true });
    writeFileSync(join(dir, "strict.yaml"), "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec:\n  mtls: {mode: STRICT}\n");
    cp = await startTestControlPlane(dir, { tlsAddress: "127.0.0.1:0", debounceMs: 10 });
    ads = tlsAdsClient(cp);
  });

  after(async () => {
    stream?.cancel();
    ads?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("listeners and clusters reference `default` and `ROOTCA`; both arrive, for spiffe://cluster.local/ns/default/sa/reviews", async () => {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${(await TokenKey.loadOrCreate(join(dir, ".data"))).mint({ namespace: "default", serviceAccount: "reviews" })}`);
    stream = ads.sotw({ id: "sidecar~127.0.0.11~reviews-v1.default~default.svc.cluster.local", metadata: { NAMESPACE: "default", SERVICE_ACCOUNT: "reviews", LABELS: { app: "reviews", version: "v1" } } }, undefined, md);
    const referenced = new Set<string>();
    for (const [typeUrl, schema] of [[TypeUrl.Cluster, ClusterSchema], [TypeUrl.Listener, ListenerSchema]] as const) {
      stream.subscribe(typeUrl, []);
      let r = await stream.next();
      while (r.typeUrl !== typeUrl) {
        stream.ack(r);
        r = await stream.next();
      }
      stream.ack(r);
      for (const a of r.resources) {
        expectEnvoyValid(a.typeUrl, a.value, `${a.typeUrl} in a response`);
        const json = toJson(schema, fromBinary(schema, a.value), { registry: resourceRegistry });
        for (const n of sdsNames(json)) referenced.add(n);
      }
    }
    assert.deepEqual([...referenced].sort(), ["ROOTCA", "default"]);

    stream.subscribe(TypeUrl.Secret, [...referenced]);
    const got = new Map<string, Uint8Array>();
    while (got.size < referenced.size) {
      const r = await stream.next();
      stream.ack(r);
      if (r.typeUrl !== TypeUrl.Secret) continue;
      for (const a of r.resources) {
        expectEnvoyValid(a.typeUrl, a.value, "Secret");
        got.set(fromBinary(SecretSchema, a.value).name, a.value);
      }
    }
    const secret = fromBinary(SecretSchema, got.get("default")!);
    assert.equal(secret.type.case, "tlsCertificate");
    const chain = secret.type.case === "tlsCertificate" ? secret.type.value.certificateChain?.specifier : undefined;
    assert.ok(chain?.case === "inlineBytes");
    assert.deepEqual(uriSans(new X509Certificate(Buffer.from(chain.value))), ["spiffe://cluster.local/ns/default/sa/reviews"]);
  });
});
