// Issue 15 item 4: SDS state was keyed by the free-text node id, so an authenticated workload
// reusing another's node id made both flap (dozens of re-issues a second, the victim told its
// secret was removed). Through the real serve: the squatter is refused with PERMISSION_DENIED
// naming the holder, and the victim keeps one certificate throughout.
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { TokenKey } from "../../src/security/token-key.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, type DeltaClientStream } from "../support/ads-client.js";
import { startTestControlPlane } from "../support/control-plane.js";

const NODE_ID = "sidecar~10.1.0.31~web-1.shop~shop.svc.cluster.local";

describe("security: a node id held by one identity is refused to another", function () {
  this.timeout(30_000);
  let dir: string;
  let cp: ControlPlane;
  let tokens: TokenKey;
  let ads: AdsClient;
  const streams: DeltaClientStream[] = [];
  const open = (serviceAccount: string): DeltaClientStream => {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${tokens.mint({ namespace: "shop", serviceAccount })}`);
    const s = ads.delta({ id: NODE_ID, metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: serviceAccount } }, undefined, md);
    streams.push(s);
    s.send({ typeUrl: TypeUrl.Secret, resourceNamesSubscribe: ["default", "ROOTCA"] });
    return s;
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-squat-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    cp = await startTestControlPlane(dir);
    tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    ads = new AdsClient(cp.xdsAddress);
  });
  after(async () => {
    for (const s of streams) s.cancel();
    ads?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses the squatter with PERMISSION_DENIED naming the holder; the victim's secret never changes", async () => {
    const victim = open("web");
    let serial: string | undefined;
    while (serial === undefined) {
      const r = await victim.next();
      victim.ack(r);
      const d = r.resources.find((x) => x.name === "default")?.resource;
      const s = d ? fromBinary(SecretSchema, d.value) : undefined;
      if (s?.type.case === "tlsCertificate") serial = new X509Certificate(Buffer.from(s.type.value.certificateChain!.specifier.value as Uint8Array)).serialNumber;
    }
    const squatter = open("admin");
    const st = await Promise.race([squatter.status, new Promise<undefined>((resolve) => setTimeout(resolve, 5000))]);
    assert.equal(st?.code, grpc.status.PERMISSION_DENIED, "the squatter is refused");
    assert.match(st.details, /node id .*held by spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web/);
    // Nothing may reach the victim: no removal of its secret, no new certificate.
    const after = await victim.next(1500).catch(() => undefined);
    assert.equal(after, undefined, `the victim was told ${JSON.stringify(after?.removedResources)} / ${after?.resources.map((x) => x.name)}`);
    const again = open("web");
    const r = await again.next();
    assert.ok(r.resources.length > 0, "the holder's own reconnect (same identity) is admitted");
  });
});
