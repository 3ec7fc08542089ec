// Issue 15 item 2: when the plaintext port listens beyond loopback (as istiod's 15010 usually
// does), a non-loopback caller with a token received its `default` private key in cleartext. The
// attack through the real serve: the plaintext port on an address of a bridge this test creates
// (so the caller is not loopback), and a token-bearing ADS stream, CA call and signal call from it.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { generateKeyPairSync } from "node:crypto";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { ListAgentsRequestSchema, SignalService } from "../../src/gen/meshward/agent/v1/signals_pb.js";
import { CaClient } from "../../src/ca/ca-api.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import { grpcServiceDefinition } from "../../src/signals/grpc-definition.js";
import { SIGNALS_AUDIENCE } from "../../src/signals/node-identity.js";
import { TokenKey } from "../../src/security/token-key.js";
import { plaintextCallProblem } from "../../src/security/xds-auth.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient } from "../support/ads-client.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { PodNetwork } from "../support/pod-network.js";
import { skipUnlessRoot } from "../agent/fixture.js";

function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  return md;
}

describe("security: no keys and no bearer tokens over plaintext from beyond loopback", function () {
  this.timeout(30_000);
  let dir: string;
  let net: PodNetwork | undefined;
  let cp: ControlPlane | undefined;
  let tokens: TokenKey;
  before(async function () {
    skipUnlessRoot(this);
    dir = mkdtempSync(join(tmpdir(), "meshward-plaintext-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\n");
    net = new PodNetwork(6);
    cp = await startTestControlPlane(dir, { xdsAddress: PodNetwork.hostPort(net.gateway, 0) });
    tokens = await TokenKey.loadOrCreate(join(dir, ".data"));
  });
  after(async () => {
    await cp?.stop();
    net?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a token-bearing ADS stream from a non-loopback address before any secret is sent", async () => {
    const ads = new AdsClient(cp!.xdsAddress);
    const stream = ads.sotw(
      { id: `sidecar~10.1.0.21~web-1.shop~shop.svc.cluster.local`, metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: "web" } },
      undefined,
      bearer(tokens.mint({ namespace: "shop", serviceAccount: "web" })),
    );
    try {
      stream.subscribe(TypeUrl.Secret, ["default", "ROOTCA"]);
      const secrets: string[] = [];
      // Read whatever comes until the stream ends or 5 s pass; a private key must never be among it.
      const deadline = Date.now() + 5000;
      for (;;) {
        const r = await stream.next(Math.max(1, deadline - Date.now())).catch(() => undefined);
        if (r === undefined) break;
        stream.ack(r);
        for (const a of r.resources) {
          const s = fromBinary(SecretSchema, a.value);
          secrets.push(s.name);
          assert.notEqual(s.type.case, "tlsCertificate", `secret ${s.name} with a private key went out in cleartext`);
        }
      }
      const st = await Promise.race([stream.status, new Promise<undefined>((r) => setTimeout(r, 1000))]);
      assert.equal(st?.code, grpc.status.UNAUTHENTICATED, `the stream is refused (got ${secrets.join(",") || "nothing"})`);
      assert.match(st?.details ?? "", /plaintext.*loopback/);
    } finally {
      stream.cancel();
      ads.close();
    }
  });

  it("refuses a token over plaintext from a non-loopback address on the CA and the signal API", async () => {
    const ca = new CaClient(cp!.xdsAddress, grpc.credentials.createInsecure());
    const Signals = grpc.makeGenericClientConstructor(grpcServiceDefinition(SignalService), "SignalService");
    const signals = new Signals(cp!.xdsAddress, grpc.credentials.createInsecure());
    try {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      await assert.rejects(
        ca.createCertificate({ csrPem: createCsr(privateKey, publicKey), token: tokens.mint({ namespace: "shop", serviceAccount: "web" }) }),
        (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED && /plaintext/.test(e.details),
      );
      const err = await new Promise<grpc.ServiceError | undefined>((resolve) =>
        signals.makeUnaryRequest(
          `/${SignalService.typeName}/ListAgents`,
          (m: Uint8Array) => Buffer.from(m),
          (b: Buffer) => b,
          toBinary(ListAgentsRequestSchema, create(ListAgentsRequestSchema, {})),
          bearer(tokens.mint({ namespace: "meshward-system", serviceAccount: "node-1", audiences: [SIGNALS_AUDIENCE] })),
          (e: grpc.ServiceError | null) => resolve(e ?? undefined),
        ),
      );
      assert.equal(err?.code, grpc.status.UNAUTHENTICATED, String(err?.details));
    } finally {
      ca.close();
      signals.close();
    }
  });
});

describe("security: the plaintext port's gate", () => {
  const withToken = bearer("a.b.c");
  it("lets loopback callers through with or without a token, and remote ones only without one when opened on purpose", () => {
    assert.equal(plaintextCallProblem("127.0.0.1:5000", withToken, false), undefined);
    assert.equal(plaintextCallProblem("[::1]:5000", withToken, false), undefined);
    assert.match(plaintextCallProblem("10.1.0.5:5000", new grpc.Metadata(), false) ?? "", /loopback only/);
    assert.equal(plaintextCallProblem("10.1.0.5:5000", new grpc.Metadata(), true), undefined);
    assert.match(plaintextCallProblem("10.1.0.5:5000", withToken, true) ?? "", /bearer token.*plaintext/);
    assert.match(plaintextCallProblem("[::ffff:10.1.0.5]:5000", withToken, true) ?? "", /bearer token/);
  });
});
