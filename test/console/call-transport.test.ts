// How a call travels (src/console/call-transport.ts), on snapshots the model builds: the client's
// DestinationRule TLS mode or auto-mTLS against the server's PeerAuthentication, as Envoy sidecars
// and istiod decide it; a mismatch is refused before any authorization.
import { strict as assert } from "node:assert";
import { callTransport, type CallTransport } from "../../src/console/call-transport.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { configObjects } from "../risk/fixtures.js";

function service(sa: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.shop.svc.cluster.local]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints: [{address: 10.0.0.7, labels: {app: api}${sa !== "" ? `, serviceAccount: ${sa}` : ""}}]`;
}
const pa = (mode: string) => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: ${mode}}}`;
const dr = (mode: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec: {host: api.shop.svc.cluster.local, trafficPolicy: {tls: {mode: ${mode}}}}`;

function transport(...docs: string[]): { transport: CallTransport; client: string; refusal?: string } {
  const snapshot = buildSnapshot({ objects: configObjects(docs.join("\n---\n"), "test.yaml"), errors: [] });
  const s = snapshot.services[0]!;
  return callTransport(snapshot, "shop", s, s.ports[0]!, s.endpoints[0]!);
}

describe("console: how a call travels, client TLS against the server's PeerAuthentication", () => {
  it("auto mTLS to an endpoint with an identity, under PERMISSIVE", () => {
    assert.deepEqual(transport(service("api")), { transport: "mTLS", client: "auto mTLS", server: "PERMISSIVE" });
  });
  it("plaintext to an endpoint without an identity (no sidecar), which PERMISSIVE accepts", () => {
    assert.equal(transport(service("")).transport, "plaintext");
  });
  it("refused: plaintext to STRICT (no identity, or a DestinationRule DISABLE)", () => {
    assert.equal(transport(service(""), pa("STRICT")).transport, "refused");
    const r = transport(service("api"), pa("STRICT"), dr("DISABLE"));
    assert.equal(r.refusal, "DestinationRule shop/api: DISABLE to a server in mTLS mode STRICT");
  });
  it("refused: a DestinationRule ISTIO_MUTUAL to a server whose mTLS is DISABLEd; auto mTLS falls back to plaintext there", () => {
    assert.equal(transport(service("api"), pa("DISABLE"), dr("ISTIO_MUTUAL")).refusal, "DestinationRule shop/api: ISTIO_MUTUAL to a server in mTLS mode DISABLE");
    assert.equal(transport(service("api"), pa("DISABLE")).transport, "plaintext");
  });
});
