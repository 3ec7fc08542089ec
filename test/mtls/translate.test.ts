// The mTLS translators on inputs the golden cases cannot carry (mesh config fields, proxy labels):
// trust-domain aliases, meshMTLS, enableAutoMtls, grpcgen's tlsMode label rule, inspectors.
import { strict as assert } from "node:assert";
import { fromBinary, type Message } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { type MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import { translate } from "../../src/translate/index.js";
import { resourceRegistry } from "../../src/translate/registry.js";
import { TypeUrl } from "../../src/xds/types.js";
import { ListenerSchema, type Listener } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { ClusterSchema, type Cluster } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { DownstreamTlsContextSchema, type DownstreamTlsContext } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { TlsParameters_TlsProtocol } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js";
import { inboundChainOptions } from "../../src/translate/mtls-inbound.js";
import { toBinary } from "@bufbuild/protobuf";
import { MeshResourceProvider } from "../../src/mesh/provider.js";

function obj(kind: string, name: string, namespace: string, spec: unknown, apiVersion: string): ConfigObject {
  return { apiVersion, kind, metadata: { name, namespace, labels: {}, annotations: {} }, spec, origin: { file: "/cfg/x.yaml" } };
}

const service = obj("ServiceEntry", "web", "shop", {
  hosts: ["web.shop.svc.cluster.local"],
  location: "MESH_INTERNAL",
  ports: [{ number: 8080, name: "grpc", protocol: "GRPC" }],
  resolution: "STATIC",
  endpoints: [{ address: "10.0.0.7", serviceAccount: "web" }],
}, "networking.istio.io/v1");

function snapshot(mesh: unknown, ...objects: ConfigObject[]): MeshSnapshot {
  return buildSnapshot({ objects: [service, ...objects], errors: [], mesh: { doc: mesh, file: "/cfg/mesh.yaml" } });
}

function proxy(flavour: "envoy" | "grpc", labels: Record<string, string> = {}): Proxy {
  return parseProxyNode({
    id: "sidecar~10.0.0.7~web-0.shop~shop.svc.cluster.local",
    metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: "web", LABELS: labels, ...(flavour === "grpc" ? { GENERATOR: "grpc" } : {}) },
  });
}

function resources<T extends Message>(s: MeshSnapshot, p: Proxy, typeUrl: TypeUrl, schema: typeof ListenerSchema | typeof ClusterSchema): T[] {
  return (translate(s, p).get(typeUrl) ?? []).map((r) => {
    const { schema: sch, message } = r.build();
    return fromBinary(schema, toBinary(sch, message)) as unknown as T;
  });
}

function downstream(l: Listener, chainName: string): DownstreamTlsContext[] {
  return l.filterChains
    .filter((fc) => fc.name === chainName && fc.transportSocket !== undefined)
    .map((fc) => {
      const any = fc.transportSocket!.configType.value!;
      return anyUnpack(any, resourceRegistry) as DownstreamTlsContext;
    });
}

describe("mTLS translation: mesh config and proxy inputs", () => {
  it("inbound mTLS accepts the trust domain and every alias by SPIFFE prefix, and follows meshMTLS", () => {
    const s = snapshot(
      { trustDomain: "prod.example", trustDomainAliases: ["old.example", "prod.example"], meshMTLS: { minProtocolVersion: "TLSV1_3", cipherSuites: ["ECDHE-ECDSA-AES256-GCM-SHA384"] } },
      obj("PeerAuthentication", "default", "istio-system", { mtls: { mode: "STRICT" } }, "security.istio.io/v1"),
    );
    const inbound = resources<Listener>(s, proxy("envoy"), TypeUrl.Listener, ListenerSchema).find((l) => l.name === "virtualInbound")!;
    const [tls] = downstream(inbound, "0.0.0.0_8080");
    assert.ok(tls, "the STRICT port has a TLS chain");
    assert.equal(tls.requireClientCertificate, true);
    const common = tls.commonTlsContext!;
    assert.equal(common.tlsParams?.tlsMinimumProtocolVersion, TlsParameters_TlsProtocol.TLSv1_3);
    assert.deepEqual(common.tlsParams?.cipherSuites, ["ECDHE-ECDSA-AES256-GCM-SHA384"]);
    assert.equal(common.validationContextType.case, "combinedValidationContext");
    const sans = common.validationContextType.value!.defaultValidationContext!.matchSubjectAltNames.map((m) => m.matchPattern.value);
    assert.deepEqual(sans, ["spiffe://prod.example/", "spiffe://old.example/"], "deduplicated, trust domain first");
    assert.deepEqual(common.tlsCertificateSdsSecretConfigs.map((c) => c.name), ["default"]);
    // STRICT leaves no plaintext chain on the port, and the TLS inspector runs.
    assert.ok(inbound.filterChains.filter((fc) => fc.filterChainMatch?.destinationPort === 8080).every((fc) => fc.filterChainMatch?.transportProtocol === "tls"));
    assert.ok(inbound.listenerFilters.some((f) => f.name === "envoy.filters.listener.tls_inspector"));
  });

  it("enableAutoMtls: false leaves clusters without TLS unless a DestinationRule asks", () => {
    const on = resources<Cluster>(snapshot({}), proxy("envoy"), TypeUrl.Cluster, ClusterSchema).find((c) => c.name === "outbound|8080||web.shop.svc.cluster.local")!;
    assert.deepEqual(on.transportSocketMatches.map((m) => m.name), ["tlsMode-istio", "tlsMode-disabled"]);
    const off = resources<Cluster>(snapshot({ enableAutoMtls: false }), proxy("envoy"), TypeUrl.Cluster, ClusterSchema).find((c) => c.name === "outbound|8080||web.shop.svc.cluster.local")!;
    assert.equal(off.transportSocketMatches.length, 0);
    assert.equal(off.transportSocket, undefined);
  });

  it("proxyless gRPC: PERMISSIVE serves plaintext, unless the pod is labelled tlsMode=istio (then STRICT)", () => {
    const s = snapshot({});
    const chainOf = (p: Proxy): string => resources<Listener>(s, p, TypeUrl.Listener, ListenerSchema).find((l) => l.name === "xds.istio.io/grpc/lds/inbound/10.0.0.7:8080")!.filterChains[0]!.name;
    assert.equal(chainOf(proxy("grpc")), "inbound-plaintext");
    assert.equal(chainOf(proxy("grpc", { "security.istio.io/tlsMode": "istio" })), "inbound-mtls");
    const strict = snapshot({}, obj("PeerAuthentication", "default", "shop", { mtls: { mode: "STRICT" } }, "security.istio.io/v1"));
    const l = resources<Listener>(strict, proxy("grpc"), TypeUrl.Listener, ListenerSchema).find((x) => x.name === "xds.istio.io/grpc/lds/inbound/10.0.0.7:8080")!;
    const ts = fromBinary(DownstreamTlsContextSchema, l.filterChains[0]!.transportSocket!.configType.value!.value);
    assert.equal(ts.requireClientCertificate, true);
    assert.equal(ts.commonTlsContext?.tlsCertificateProviderInstance?.instanceName, "default");
    assert.equal(ts.commonTlsContext?.tlsCertificateSdsSecretConfigs.length, 0, "no SDS for gRPC");
    assert.equal(ts.commonTlsContext?.tlsParams, undefined, "grpc-js-xds NACKs tls_params");
    assert.equal(l.listenerFilters.length, 0, "grpc-js-xds NACKs listener filters");
  });

  it("an original-destination cluster follows its endpoints' tlsMode labels through the provider's cache", () => {
    const headless = (labels: Record<string, string>): ConfigObject =>
      obj("ServiceEntry", "db", "shop", {
        hosts: ["db.shop.svc.cluster.local"],
        location: "MESH_INTERNAL",
        ports: [{ number: 5432, name: "tcp", protocol: "TCP" }],
        resolution: "NONE",
        endpoints: [{ address: "10.0.0.9", labels }],
      }, "networking.istio.io/v1");
    const provider = new MeshResourceProvider();
    const tlsOf = (): boolean => {
      const r = provider.resources(proxy("envoy"), TypeUrl.Cluster).get("outbound|5432||db.shop.svc.cluster.local")!;
      return fromBinary(ClusterSchema, r.bytes).transportSocket !== undefined;
    };
    const first = snapshot({}, headless({ "security.istio.io/tlsMode": "istio" }));
    provider.update(first);
    assert.equal(tlsOf(), true, "every endpoint has a sidecar: TLS");
    provider.update(buildSnapshot({ objects: [service, headless({})], errors: [] }, first));
    assert.equal(tlsOf(), false, "an endpoint without a sidecar: plaintext");
  });

  it("chain layouts per mode and protocol, as istiod's filterchain_options", () => {
    const shape = (mode: "STRICT" | "PERMISSIVE" | "DISABLE", p: "HTTP" | "TCP" | "AUTO"): string[] =>
      inboundChainOptions(mode, p).map((o) => `${o.protocol}/${o.transportProtocol}${o.tls ? "+mtls" : ""}${o.applicationProtocols.length ? `[${o.applicationProtocols.join(",")}]` : ""}`);
    assert.deepEqual(shape("PERMISSIVE", "AUTO"), [
      "HTTP/tls+mtls[istio-http/1.0,istio-http/1.1,istio-h2]",
      "HTTP/raw_buffer[http/1.1,h2c]",
      "TCP/tls+mtls[istio-peer-exchange,istio]",
      "TCP/raw_buffer",
      "TCP/tls",
    ]);
    assert.deepEqual(shape("STRICT", "HTTP"), ["HTTP/tls+mtls"]);
    assert.deepEqual(shape("DISABLE", "TCP"), ["TCP/raw_buffer"]);
    assert.deepEqual(shape("PERMISSIVE", "HTTP"), ["HTTP/tls+mtls[istio,istio-peer-exchange,istio-http/1.0,istio-http/1.1,istio-h2]", "HTTP/raw_buffer"]);
  });
});
