// The proxyless gRPC flavour judged by a real consumer: @grpc/grpc-js-xds decodes the filters'
// bytes with its own proto loader and evaluates them with its own RBAC engine, for calls from
// different identities, addresses, paths and methods.
import assert from "node:assert/strict";
import { Metadata } from "@grpc/grpc-js";
import type { RbacPolicyGroup, UnifiedInfo } from "@grpc/grpc-js-xds/build/src/rbac.js";
import { rbacEngines } from "../support/rbac-engine.js";
import { authzGrpcFilters } from "../../src/authz/filters.js";
import { DEFAULT_AUTHZ_MESH_CONFIG } from "../../src/authz/mesh-config.js";
import type { AuthorizationPolicy } from "../../src/authz/policy.js";
import { policy } from "./helpers.js";
import { issueLeaf, makeTestPki } from "../support/test-pki.js";
import { rmSync } from "node:fs";
import { connect, createServer, type PeerCertificate } from "node:tls";

/** Certificates with SPIFFE URI SANs made by openssl, and the PeerCertificate a TLS server sees for each. */
async function peerCertificates(ids: string[]): Promise<PeerCertificate[]> {
  const pki = makeTestPki();
  try {
    const clients = ids.map((id, i) => issueLeaf(pki.dir, `client-${i}`, "/O=meshward-test", `URI:${id}`));
    const seen: PeerCertificate[] = [];
    const server = createServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true, rejectUnauthorized: true }, (socket) => {
      seen.push(socket.getPeerCertificate());
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    for (const client of clients) {
      await new Promise<void>((resolve, reject) => {
        const c = connect({ host: "127.0.0.1", port, servername: "localhost", key: client.key, cert: client.cert, ca: pki.ca });
        c.on("error", reject);
        c.on("close", () => resolve());
        c.resume();
      });
    }
    server.close();
    return seen;
  } finally {
    rmSync(pki.dir, { recursive: true, force: true });
  }
}

/** What grpc-js-xds builds from our filters: bytes on the wire, decoded and parsed its way. */
function engines(policies: AuthorizationPolicy[]): RbacPolicyGroup[] {
  const { filters } = authzGrpcFilters({ workload: { namespace: "foo", labels: { app: "svc" } }, policies, mesh: DEFAULT_AUTHZ_MESH_CONFIG });
  return rbacEngines(filters);
}

interface Call {
  spiffe?: string;
  /** A peer certificate from a real TLS handshake (takes precedence over `spiffe`). */
  cert?: PeerCertificate;
  sourceIp?: string;
  path?: string;
  method?: string;
}

function call(c: Call): UnifiedInfo {
  const headers = new Metadata();
  headers.set(":method", c.method ?? "POST");
  headers.set(":path", c.path ?? "/pkg.Svc/Get");
  headers.set(":authority", "svc.foo.svc.cluster.local:50051");
  return {
    headers,
    urlPath: c.path ?? "/pkg.Svc/Get",
    destinationIp: "10.0.0.1",
    destinationPort: 50051,
    sourceIp: c.sourceIp ?? "10.0.0.9",
    tls: c.spiffe !== undefined || c.cert !== undefined,
    // The fields of tls.PeerCertificate grpc-js-xds reads: SANs, then the subject CN.
    peerCertificate: c.cert ?? (c.spiffe !== undefined ? { subject: { CN: "" }, subjectaltname: `URI:${c.spiffe}` } : null),
  } as UnifiedInfo;
}

/** The filter chain admits a call only if every RBAC filter (DENY first) accepts it. */
const admitted = (groups: RbacPolicyGroup[], c: Call): boolean => groups.every((g) => g.apply(call(c)));

describe("authz proxyless gRPC filters in grpc-js-xds's RBAC engine", () => {
  it("ALLOW on a principal admits that identity and rejects another", () => {
    const groups = engines([policy({ rules: [{ from: [{ source: { principals: ["cluster.local/ns/foo/sa/client-a"] } }] }] })]);
    assert.equal(admitted(groups, { spiffe: "spiffe://cluster.local/ns/foo/sa/client-a" }), true);
    assert.equal(admitted(groups, { spiffe: "spiffe://cluster.local/ns/foo/sa/client-b" }), false);
    assert.equal(admitted(groups, {}), false, "plaintext callers have no identity");
  });

  it("ALLOW on a principal, judged on the peer certificates of real mTLS handshakes", async () => {
    const [a, b] = await peerCertificates(["spiffe://cluster.local/ns/foo/sa/client-a", "spiffe://cluster.local/ns/foo/sa/client-b"]);
    assert.ok(a !== undefined && b !== undefined);
    const groups = engines([policy({ rules: [{ from: [{ source: { principals: ["cluster.local/ns/foo/sa/client-a"] } }] }] })]);
    assert.equal(admitted(groups, { cert: a }), true);
    assert.equal(admitted(groups, { cert: b }), false);
  });

  it("DENY on a path and method rejects only that call", () => {
    const groups = engines([policy({ action: "DENY", rules: [{ to: [{ operation: { paths: ["/pkg.Svc/Delete"], methods: ["POST"] } }] }] })]);
    assert.equal(admitted(groups, { path: "/pkg.Svc/Delete" }), false);
    assert.equal(admitted(groups, { path: "/pkg.Svc/Get" }), true);
  });

  it("a namespace-wide ALLOW on source namespaces", () => {
    const groups = engines([policy({ rules: [{ from: [{ source: { namespaces: ["frontend"] } }] }] }, { namespace: "foo" })]);
    assert.equal(admitted(groups, { spiffe: "spiffe://cluster.local/ns/frontend/sa/web" }), true);
    assert.equal(admitted(groups, { spiffe: "spiffe://cluster.local/ns/backend/sa/web" }), false);
  });

  it("ipBlocks over plaintext; DENY wins over ALLOW", () => {
    const groups = engines([
      policy({ rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/16"] } }] }] }, { name: "allow-net" }),
      policy({ action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["10.0.5.5"] } }] }] }, { name: "deny-one" }),
    ]);
    assert.equal(admitted(groups, { sourceIp: "10.0.1.1" }), true);
    assert.equal(admitted(groups, { sourceIp: "10.1.0.1" }), false);
    assert.equal(admitted(groups, { sourceIp: "10.0.5.5" }), false);
  });

  it("an ALLOW policy without rules allows nothing", () => {
    const groups = engines([policy({}, { name: "nothing" })]);
    assert.equal(admitted(groups, { spiffe: "spiffe://cluster.local/ns/foo/sa/a", sourceIp: "10.0.0.1" }), false);
  });
});
