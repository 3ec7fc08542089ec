// Issue 15 item 3: a quarantined pod refused by the CA API got a fresh key and certificate by
// reconnecting over ADS (SDS issued with no caller, so the pod-scoped quarantine never matched,
// and revoke() was never called). Through the real serve: the quarantine withdraws the `default`
// secret already pushed (a delta stream is told it is removed; state-of-the-world cannot express a
// removal for SDS, so there it is simply never sent again), a reconnect gets none, and
// `meshward quarantine release` restores it.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { TokenKey } from "../../src/security/token-key.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient, type DeltaClientStream, type SotwClientStream, type TestNode } from "../support/ads-client.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { meshwardOk } from "../support/meshward-cli.js";
import { ESCAPE_QUARANTINE_POLICY, podA, signal } from "../risk/fixtures.js";

const node: TestNode = {
  id: `sidecar~${podA.ip}~${podA.name}.${podA.namespace}~${podA.namespace}.svc.cluster.local`,
  metadata: { NAMESPACE: podA.namespace, SERVICE_ACCOUNT: podA.serviceAccount },
};

/** Reads Secret responses (ACKing all) until one's names satisfy `want`; rejects after `ms`. */
async function secretsUntil(s: SotwClientStream, want: (names: string[]) => boolean, ms = 10_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await s.next(Math.max(1, deadline - Date.now()));
    s.ack(r);
    if (r.typeUrl !== TypeUrl.Secret) continue;
    const names = r.resources.map((a) => fromBinary(SecretSchema, a.value).name).sort();
    if (want(names)) return names;
  }
}

describe("security: a quarantine reaches SDS", function () {
  this.timeout(60_000);
  let dir: string;
  let cp: ControlPlane;
  let ads: AdsClient;
  let md: grpc.Metadata;
  const streams: (SotwClientStream | DeltaClientStream)[] = [];
  const open = (): SotwClientStream => {
    const s = ads.sotw(node, undefined, md);
    streams.push(s);
    s.subscribe(TypeUrl.Secret, ["default", "ROOTCA"]);
    return s;
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-quarantine-sds-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "policy.yaml"), ESCAPE_QUARANTINE_POLICY);
    cp = await startTestControlPlane(dir);
    const tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
    md = new grpc.Metadata();
    md.set("authorization", `Bearer ${tokens.mint({ namespace: podA.namespace, serviceAccount: podA.serviceAccount })}`);
    ads = new AdsClient(cp.xdsAddress);
  });
  after(async () => {
    for (const s of streams) s.cancel();
    ads?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("withdraws the pushed key on quarantine, issues none on reconnect, and restores it on release", async () => {
    const first = ads.delta(node, undefined, md);
    streams.push(first);
    first.send({ typeUrl: TypeUrl.Secret, resourceNamesSubscribe: ["default", "ROOTCA"] });
    for (let got = false; !got; ) {
      const r = await first.next();
      first.ack(r);
      got = r.resources.some((x) => x.name === "default");
    }
    cp.risk.risk.handleSignal(signal({ pod: podA }));
    for (let removed = false; !removed; ) {
      const r = await first.next();
      first.ack(r);
      assert.ok(!r.resources.some((x) => x.name === "default"), "no new key for a quarantined pod");
      removed = r.removedResources.includes("default");
    }
    first.cancel();
    await first.status;

    const again = open();
    const seen: string[][] = [];
    const deadline = Date.now() + 3000;
    for (;;) {
      const r = await again.next(Math.max(1, deadline - Date.now())).catch(() => undefined);
      if (r === undefined) break;
      again.ack(r);
      if (r.typeUrl === TypeUrl.Secret) seen.push(r.resources.map((a) => fromBinary(SecretSchema, a.value).name));
    }
    assert.ok(seen.length > 0, "the reconnected proxy is answered (ROOTCA)");
    assert.ok(seen.every((names) => !names.includes("default")), `no key for a quarantined pod on reconnect: ${JSON.stringify(seen)}`);

    await meshwardOk("quarantine", "release", podA.uid, "--data-dir", join(dir, ".data"));
    assert.ok((await secretsUntil(again, (n) => n.includes("default"))).includes("default"), "released: the key comes back");
  });
});
