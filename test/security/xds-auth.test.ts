// xDS stream authorization: the proxy's claimed NAMESPACE/SERVICE_ACCOUNT must be its
// authenticated identity; the plaintext port is loopback-only by default.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { parseProxyNode } from "../../src/model/proxy.js";
import { MeshwardTokenAuthenticator } from "../../src/security/token-authenticator.js";
import { TokenKey } from "../../src/security/token-key.js";
import { authorizeProxy, isLoopbackPeer, plaintextCallerAllowed } from "../../src/security/xds-auth.js";

const key = TokenKey.generate();
const authn = [new MeshwardTokenAuthenticator({ trustDomain: "cluster.local", publicKeys: [key.publicKey] })];

function ctx(token?: string): { metadata: grpc.Metadata; peer: string } {
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
  return { metadata, peer: "10.0.0.9:41000" };
}

const proxy = parseProxyNode({
  id: "sidecar~10.0.0.9~cart-1.shop~shop.svc.cluster.local",
  metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: "cart" },
});

describe("xDS proxy authorization", function () {
  it("accepts a proxy whose metadata names its authenticated identity", async () => {
    const r = await authorizeProxy(authn, ctx(key.mint({ namespace: "shop", serviceAccount: "cart" })), proxy);
    assert.ok(r.ok);
    assert.equal(r.identity.serviceAccount, "cart");
  });

  it("denies a proxy claiming another service account, naming both", async () => {
    const r = await authorizeProxy(authn, ctx(key.mint({ namespace: "shop", serviceAccount: "web" })), proxy);
    assert.ok(!r.ok);
    assert.equal(r.status, "permission-denied");
    assert.match(r.reason, /claims namespace "shop" service account "cart" but authenticated as spiffe:\/\/cluster.local\/ns\/shop\/sa\/web/);
  });

  it("rejects a proxy without credentials as unauthenticated", async () => {
    const r = await authorizeProxy(authn, ctx(), proxy);
    assert.ok(!r.ok);
    assert.equal(r.status, "unauthenticated");
  });

  it("recognises loopback peers in grpc-js's peer formats", () => {
    for (const p of ["127.0.0.1:5000", "127.3.2.1", "[::1]:80", "::1", "::ffff:127.0.0.1:9"]) assert.ok(isLoopbackPeer(p), p);
    for (const p of ["10.0.0.1:5000", "[2001:db8::1]:80", "::ffff:10.0.0.1:9", "128.0.0.1:1"]) assert.ok(!isLoopbackPeer(p), p);
    assert.equal(plaintextCallerAllowed("10.0.0.1:5000", false).ok, false);
    assert.equal(plaintextCallerAllowed("10.0.0.1:5000", true).ok, true);
  });
});
