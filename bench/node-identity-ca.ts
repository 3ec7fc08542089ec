// The CA for bench:node-identity in its own process, so the benchmark's CPU figures are the node
// agent's alone: meshward's CA on a loopback gRPC port with node-scoped issuance for the pods of a
// JSON file (all on one node), accepting tokens it mints. Prints {address, nodeToken} once ready.
//   node node-identity-ca.js <pods.json> <node> <dataDir>
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { CertificateAuthority } from "../src/ca/authority.js";
import { registerCaService } from "../src/ca/ca-service.js";
import { staticPodPlacement, TrustedNodeAccounts, type ScheduledPod } from "../src/ca/node-impersonation.js";
import { loadOrCreateSigner } from "../src/ca/signer-store.js";
import { MeshwardTokenAuthenticator } from "../src/security/token-authenticator.js";
import { TokenKey } from "../src/security/token-key.js";
import { NODE_NAMESPACE, nodeServiceAccount } from "../src/signals/node-identity.js";

const [podsFile, node, dataDir] = process.argv.slice(2);
const pods = JSON.parse(readFileSync(podsFile, "utf8")) as ScheduledPod[];
const signer = await loadOrCreateSigner(dataDir, "cluster.local", "ecdsa-p256");
const ca = new CertificateAuthority({ trustDomain: "cluster.local", signer });
const key = TokenKey.generate();
const server = new grpc.Server();
registerCaService(server, {
  ca,
  authenticators: [new MeshwardTokenAuthenticator({ trustDomain: "cluster.local", publicKeys: [key.publicKey] })],
  impersonation: { trusted: TrustedNodeAccounts.parse("meshward-system/node-*", "bench"), placement: staticPodPlacement(pods) },
});
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
);
console.log(JSON.stringify({ address: `127.0.0.1:${port}`, nodeToken: key.mint({ namespace: NODE_NAMESPACE, serviceAccount: nodeServiceAccount(node), ttlSeconds: 24 * 3600 }) }));
process.on("SIGTERM", () => server.forceShutdown());
