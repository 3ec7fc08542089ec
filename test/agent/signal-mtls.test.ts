// The signal stream over mutual TLS with a node certificate from meshward's CA: the node identity
// comes from the certificate's SPIFFE ID, and only node identities may report.
import { strict as assert } from "node:assert";
import { generateKeyPairSync } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { AgentHelloSchema, SignalSchema } from "../../src/gen/meshward/agent/v1/signals_pb.js";
import { SignalSender } from "../../src/agent/signal-sender.js";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import { createCaServerCredentials, type CaServerCredentials } from "../../src/ca/serving-credentials.js";
import { ClientCertificateAuthenticator } from "../../src/security/certificate-authenticator.js";
import { registerSignalService } from "../../src/signals/service.js";
import { SignalStore } from "../../src/signals/store.js";
import { newCa, tempDir, TRUST_DOMAIN } from "../ca/helpers.js";
import { eventually } from "../support/eventually.js";

async function clientCredentials(ca: CertificateAuthority, namespace: string, serviceAccount: string): Promise<grpc.ChannelCredentials> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const issued = await ca.issue({ identity: { trustDomain: TRUST_DOMAIN, namespace, serviceAccount }, csrPem: createCsr(privateKey, publicKey) });
  return grpc.credentials.createSsl(
    Buffer.from(ca.bundle.pem()),
    Buffer.from(privateKey.export({ type: "pkcs8", format: "pem" }).toString()),
    Buffer.from(issued.certChain.slice(0, -1).join("")),
  );
}

describe("signal stream over mTLS with a node certificate from the CA", function () {
  this.timeout(30_000);
  let cleanup: () => Promise<void> = async () => undefined;
  let ca: CertificateAuthority;
  let serving: CaServerCredentials;
  const server = new grpc.Server();
  const store = new SignalStore();
  let address = "";

  before(async () => {
    const t = await tempDir("meshward-signal-mtls-");
    cleanup = t.cleanup;
    ca = await newCa(t.dir);
    serving = createCaServerCredentials(ca);
    registerSignalService(server, {
      authenticators: [new ClientCertificateAuthenticator(TRUST_DOMAIN, () => [ca.signingCertificate])],
      store,
      podNode: (pod) => (pod.uid === "pod-on-n1" ? "n1" : undefined),
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", serving.credentials, (e, p) => (e ? reject(e) : resolve(p))));
    address = `127.0.0.1:${port}`;
  });

  after(async () => {
    server.forceShutdown();
    serving.close();
    await cleanup();
  });

  function sender(credentials: grpc.ChannelCredentials): SignalSender {
    const s = new SignalSender({
      address, credentials, hello: create(AgentHelloSchema, { node: "n1" }),
      channelOptions: { "grpc.ssl_target_name_override": "istiod.istio-system.svc" },
    });
    s.start();
    return s;
  }

  it("accepts signals from spiffe://cluster.local/ns/meshward-system/sa/node-n1 about its pods", async () => {
    const s = sender(await clientCredentials(ca, "meshward-system", "node-n1"));
    s.enqueue(create(SignalSchema, { id: "mtls-1", node: "n1", pod: { uid: "pod-on-n1" } }));
    s.enqueue(create(SignalSchema, { id: "mtls-2", node: "n1", pod: { uid: "pod-elsewhere" } }));
    assert.ok(await s.drained(10_000));
    s.close();
    assert.equal(s.stats().acked, 1);
    assert.equal(s.stats().rejected, 1);
    assert.ok(store.has("mtls-1") && !store.has("mtls-2"));
  });

  it("refuses a workload certificate and a TLS client without a certificate", async () => {
    for (const creds of [await clientCredentials(ca, "shop", "cart"), grpc.credentials.createSsl(Buffer.from(ca.bundle.pem()))]) {
      const s = sender(creds);
      s.enqueue(create(SignalSchema, { id: `refused-${Math.random()}`, node: "n1" }));
      await eventually("the refused stream to be retried", () => s.stats().reconnects > 0 || undefined);
      assert.equal(s.stats().acked, 0);
      assert.equal(s.stats().buffered, 1);
      s.close();
    }
  });
});
