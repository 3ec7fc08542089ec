// Auto-mTLS picks Envoy's `tlsMode-istio` socket per endpoint from EDS metadata. It must be set
// for WorkloadEntries / inline endpoints that name a service account (else Envoy would talk
// plaintext to sidecars), and left off where the endpoint's own PeerAuthentication disables mTLS
// or a DestinationRule chooses another TLS mode (istiod's getTLSModeFromWorkloadEntry and
// mtlsChecker). Also: virtualInbound never sets use_original_dst (istiod relies on the original_dst
// listener filter), so inbound connections cannot be handed to an outbound listener.
import { strict as assert } from "node:assert";
import type { JsonObject } from "@bufbuild/protobuf";
import { type MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { dumpResources } from "../../src/translate/dump.js";

function obj(kind: string, name: string, spec: unknown, apiVersion = "networking.istio.io/v1"): ConfigObject {
  return { apiVersion, kind, metadata: { name, namespace: "default", labels: {}, annotations: {} }, spec, origin: { file: "/cfg/objects.yaml" } };
}

const service = (endpoints: unknown[]): ConfigObject =>
  obj("ServiceEntry", "api", { hosts: ["api.default.svc.cluster.local"], ports: [{ number: 8080, name: "http", protocol: "HTTP" }], resolution: "STATIC", endpoints });

const client = parseProxyNode({ id: "sidecar~127.0.0.50~client-0.default~default.svc.cluster.local", metadata: { NAMESPACE: "default", SERVICE_ACCOUNT: "client", LABELS: { app: "client" } } });

function snapshot(...objects: ConfigObject[]): MeshSnapshot {
  return buildSnapshot({ objects, errors: [] });
}

/** Endpoint address -> its tlsMode metadata (undefined when none) in the default cluster's assignment. */
function tlsModes(s: MeshSnapshot): Record<string, string | undefined> {
  const cla = (dumpResources(s, client)["endpoints"] as JsonObject[]).find((e) => e["clusterName"] === "outbound|8080||api.default.svc.cluster.local");
  assert.ok(cla, "the assignment exists");
  const out: Record<string, string | undefined> = {};
  for (const l of cla["endpoints"] as JsonObject[]) {
    for (const e of l["lbEndpoints"] as JsonObject[]) {
      const address = ((e["endpoint"] as JsonObject)["address"] as JsonObject)["socketAddress"] as JsonObject;
      const md = (e["metadata"] as JsonObject | undefined)?.["filterMetadata"] as JsonObject | undefined;
      out[String(address["address"])] = (md?.["envoy.transport_socket_match"] as JsonObject | undefined)?.["tlsMode"] as string | undefined;
    }
  }
  return out;
}

describe("endpoint tlsMode for auto-mTLS", () => {
  const endpoints = [
    { address: "10.0.0.1", serviceAccount: "api" }, // a service account: a sidecar with an identity
    { address: "10.0.0.2" }, // none: no sidecar known
    { address: "10.0.0.3", serviceAccount: "api", labels: { "security.istio.io/tlsMode": "disabled" } }, // the label wins
    { address: "10.0.0.4", labels: { "security.istio.io/tlsMode": "istio", app: "legacy" } },
  ];

  it("marks endpoints with a service account or the istio label, and the label decides over the account", () => {
    assert.deepEqual(tlsModes(snapshot(service(endpoints))), { "10.0.0.1": "istio", "10.0.0.2": undefined, "10.0.0.3": undefined, "10.0.0.4": "istio" });
  });

  it("leaves off an endpoint whose own PeerAuthentication disables mTLS", () => {
    const pa = obj("PeerAuthentication", "legacy-plain", { selector: { matchLabels: { app: "legacy" } }, mtls: { mode: "DISABLE" } }, "security.istio.io/v1");
    assert.deepEqual(tlsModes(snapshot(service(endpoints), pa)), { "10.0.0.1": "istio", "10.0.0.2": undefined, "10.0.0.3": undefined, "10.0.0.4": undefined });
  });

  it("follows a DestinationRule TLS mode alone: ISTIO_MUTUAL marks every endpoint, SIMPLE none", () => {
    const dr = (mode: string): ConfigObject => obj("DestinationRule", "api", { host: "api.default.svc.cluster.local", trafficPolicy: { tls: { mode } } });
    assert.deepEqual(tlsModes(snapshot(service(endpoints), dr("ISTIO_MUTUAL"))), { "10.0.0.1": "istio", "10.0.0.2": "istio", "10.0.0.3": "istio", "10.0.0.4": "istio" });
    assert.deepEqual(tlsModes(snapshot(service(endpoints), dr("SIMPLE"))), { "10.0.0.1": undefined, "10.0.0.2": undefined, "10.0.0.3": undefined, "10.0.0.4": undefined });
  });

  it("gives virtualInbound the original_dst listener filter but no use_original_dst", () => {
    const server = parseProxyNode({ id: "sidecar~10.0.0.1~api-0.default~default.svc.cluster.local", metadata: { NAMESPACE: "default", SERVICE_ACCOUNT: "api", LABELS: {} } });
    const inbound = (dumpResources(snapshot(service(endpoints)), server)["listeners"] as JsonObject[]).find((l) => l["name"] === "virtualInbound");
    assert.ok(inbound);
    assert.equal(inbound["useOriginalDst"], undefined);
    assert.ok((inbound["listenerFilters"] as JsonObject[]).some((f) => f["name"] === "envoy.filters.listener.original_dst"));
  });
});
