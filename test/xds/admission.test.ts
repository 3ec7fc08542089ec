// Admission: the server parses the node, builds the CallerContext (metadata, peer, and the peer's
// certificate under mutual TLS) and lets `admit` refuse the stream with a gRPC code.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { TypeUrl } from "../../src/xds/types.js";
import type { CallerContext } from "../../src/security/identity.js";
import type { Proxy } from "../../src/model/proxy.js";
import { MemoryProvider } from "../support/memory-provider.js";
import { seed, startXds } from "../support/xds-harness.js";
import { AdsClient, sidecarNode } from "../support/ads-client.js";
import { makeTestPki } from "../support/test-pki.js";

const { Cluster: CDS, ClusterLoadAssignment: EDS } = TypeUrl;

describe("xds admission", () => {
  it("calls admit with the parsed proxy and caller, and refuses with the error's code", async () => {
    const provider = new MemoryProvider();
    seed(provider, CDS, ["c1"]);
    const seen: { proxy: string; peer: string; token: string }[] = [];
    const h = await startXds(provider, {
      admit: async (proxy, caller) => {
        seen.push({ proxy: proxy.podName, peer: caller.peer, token: String(caller.metadata.get("authorization")[0] ?? "") });
        if (proxy.podName !== "trusted") throw Object.assign(new Error(`pod ${proxy.podName} is quarantined`), { code: grpc.status.PERMISSION_DENIED });
      },
    });
    const client = new AdsClient(h.address);
    try {
      const md = new grpc.Metadata();
      md.set("authorization", "Bearer t0k3n");
      const bad = client.sotw(sidecarNode("evil"), undefined, md);
      bad.send({ typeUrl: CDS });
      const st = await bad.status;
      assert.equal(st.code, grpc.status.PERMISSION_DENIED);
      assert.equal(st.details, "pod evil is quarantined");
      assert.equal(h.xds.status().length, 0);
      const good = client.sotw(sidecarNode("trusted"));
      good.send({ typeUrl: CDS });
      good.send({ typeUrl: EDS, resourceNames: ["c1"] }); // queued behind admission, not lost
      assert.equal((await good.next()).typeUrl, CDS);
      assert.deepEqual(seen.map((s) => s.proxy), ["evil", "trusted"]);
      assert.equal(seen[0]?.token, "Bearer t0k3n");
      assert.match(seen[0]?.peer ?? "", /127\.0\.0\.1/);
    } finally {
      client.close();
      await h.stop();
    }
  });
  it("under mutual TLS gives admit the peer certificate's DER", async () => {
    const pki = makeTestPki();
    const provider = new MemoryProvider();
    seed(provider, CDS, ["c1"]);
    const admitted: { proxy: Proxy; caller: CallerContext }[] = [];
    const creds = grpc.ServerCredentials.createSsl(pki.ca, [{ cert_chain: pki.serverCert, private_key: pki.serverKey }], true);
    const h = await startXds(provider, { admit: async (proxy, caller) => void admitted.push({ proxy, caller }) }, 0, creds);
    const client = new AdsClient(h.address, grpc.credentials.createSsl(pki.ca, pki.clientKey, pki.clientCert), {
      "grpc.ssl_target_name_override": "localhost",
      "grpc.default_authority": "localhost",
    });
    try {
      const s = client.sotw(sidecarNode("web-1"));
      s.send({ typeUrl: CDS });
      assert.equal((await s.next()).typeUrl, CDS);
      assert.equal(admitted.length, 1);
      assert.ok(admitted[0]?.caller.peerCertificate, "no peer certificate in the CallerContext");
      assert.ok(admitted[0]?.caller.peerCertificate?.equals(pki.clientCertDer), "peer certificate DER differs from openssl's");
    } finally {
      client.close();
      await h.stop();
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });

  it("over plaintext leaves the peer certificate unset", async () => {
    const provider = new MemoryProvider();
    seed(provider, CDS, ["c1"]);
    const callers: CallerContext[] = [];
    const h = await startXds(provider, { admit: async (_p, caller) => void callers.push(caller) });
    const client = new AdsClient(h.address);
    try {
      const s = client.sotw(sidecarNode());
      s.send({ typeUrl: CDS });
      await s.next();
      assert.equal(callers[0]?.peerCertificate, undefined);
    } finally {
      client.close();
      await h.stop();
    }
  });
});
