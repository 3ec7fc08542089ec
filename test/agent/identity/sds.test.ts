// Envoy's SDS contract on the node identity socket, checked with a raw SDS client running inside a
// pod's cgroup (as Envoy in the pod): the secret names istio-agent serves (`default`, `ROOTCA`),
// ACK answered with nothing, NACK not re-sent, stale nonces ignored, the wrong type refused,
// DeltaSecrets with initial versions, and a rotation pushed down the same stream.
import { strict as assert } from "node:assert";
import { useIdentityFixture } from "./fixture.js";

const SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

describe("node identity: Envoy SDS on the socket (raw client in a pod)", function () {
  this.timeout(60_000);
  const fx = useIdentityFixture();

  it("StreamSecrets serves `default` (the pod's chain and matching key) and `ROOTCA`, answers an ACK with nothing and does not re-send after a NACK", async () => {
    const pod = fx.agentFixture.newPod("envoy");
    const envoy = fx.client(pod, ["stream"], "sds-client.js");
    envoy.send({ resourceNames: ["default"] });
    const first = await envoy.line(0);
    assert.equal(first.typeUrl, SECRET);
    assert.deepEqual(first.secrets, [{ name: "default", kind: "tlsCertificate", san: `URI:${fx.spiffeIdOf(pod)}`, serial: first.secrets?.[0]?.serial, keyMatches: true }]);
    envoy.send({ resourceNames: ["default"], responseNonce: first.nonce, versionInfo: first.versionInfo });
    assert.ok(await envoy.quietFor(500, 1), "an ACK gets no response");
    // A request with a stale nonce is ignored.
    envoy.send({ resourceNames: ["default", "ROOTCA"], responseNonce: "stale" });
    assert.ok(await envoy.quietFor(300, 1), "a stale nonce gets no response");
    // A new subscription (ROOTCA added) on the current nonce is answered with both.
    envoy.send({ resourceNames: ["default", "ROOTCA"], responseNonce: first.nonce, versionInfo: first.versionInfo });
    const both = await envoy.line(1);
    assert.deepEqual(both.secrets?.map((s) => `${s.name}:${s.kind}`), ["default:tlsCertificate", "ROOTCA:validationContext"]);
    assert.equal(both.secrets?.[1]?.rootIsCa, true);
    assert.notEqual(both.nonce, first.nonce);
    // NACK: nothing is re-sent while the secrets stay the same.
    envoy.send({ resourceNames: ["default", "ROOTCA"], responseNonce: both.nonce, versionInfo: first.versionInfo, errorDetail: { code: 3, message: "rejected by the test" } });
    assert.ok(await envoy.quietFor(500, 2), "a NACK is not answered with the same secrets");
    envoy.kill();
  });

  it("StreamSecrets refuses another resource type", async () => {
    const pod = fx.agentFixture.newPod("wrongtype");
    const envoy = fx.client(pod, ["stream"], "sds-client.js");
    envoy.send({ typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster", resourceNames: ["x"] });
    const r = await envoy.line(0);
    assert.equal(r.error, "INVALID_ARGUMENT");
    assert.match(r.details ?? "", /is not served here/);
  });

  it("DeltaSecrets sends each subscribed secret with its version and skips what the client already has", async () => {
    const pod = fx.agentFixture.newPod("delta");
    const envoy = fx.client(pod, ["delta"], "sds-client.js");
    envoy.send({ resourceNamesSubscribe: ["default", "ROOTCA"] });
    const r = await envoy.line(0);
    assert.deepEqual(r.resources?.map((x) => x.name).sort(), ["ROOTCA", "default"]);
    assert.ok(r.resources?.every((x) => x.version !== ""));
    const rootVersion = r.resources?.find((x) => x.name === "ROOTCA")?.version;
    envoy.kill();
    // A reconnecting client that already has this ROOTCA gets only `default`.
    const again = fx.client(pod, ["delta"], "sds-client.js");
    again.send({ resourceNamesSubscribe: ["default", "ROOTCA"], initialResourceVersions: { ROOTCA: rootVersion } });
    const r2 = await again.line(0);
    assert.deepEqual(r2.resources?.map((x) => x.name), ["default"]);
    again.kill();
  });

  it("a host process gets no secrets", async () => {
    const envoy = fx.client(undefined, ["stream"], "sds-client.js");
    envoy.send({ resourceNames: ["default"] });
    const r = await envoy.line(0);
    assert.equal(r.error, "PERMISSION_DENIED");
    assert.match(r.details ?? "", /not in a pod/);
  });
});

describe("node identity: SDS rotation push", function () {
  this.timeout(60_000);
  const fx = useIdentityFixture({ ttlSeconds: 3 });

  it("pushes the rotated `default` (new version, new certificate, matching key) on the same stream after an ACK", async () => {
    const pod = fx.agentFixture.newPod("rotate-sds");
    const envoy = fx.client(pod, ["stream"], "sds-client.js");
    envoy.send({ resourceNames: ["default"] });
    const first = await envoy.line(0);
    envoy.send({ resourceNames: ["default"], responseNonce: first.nonce, versionInfo: first.versionInfo });
    const rotated = await envoy.line(1, 10_000);
    assert.notEqual(rotated.versionInfo, first.versionInfo);
    assert.notEqual(rotated.secrets?.[0]?.serial, first.secrets?.[0]?.serial);
    assert.equal(rotated.secrets?.[0]?.keyMatches, true);
    assert.equal(rotated.secrets?.[0]?.san, `URI:${fx.spiffeIdOf(pod)}`);
    envoy.kill();
  });
});
