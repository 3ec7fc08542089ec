// grpc-go's xDS credentials over meshward's XdsServer: mutual TLS configured entirely by xDS
// (certificate_provider_instance names resolved by grpc-go's bootstrap file_watcher plugin). The
// TLS resources are written here by hand in the shape gRFC A29 requires; this pins down that the
// peer's --xds-creds and bootstrap plumbing work, so tests of meshward's own TLS translation only
// swap the provider (grpc-go-mtls-meshward.test.ts does, with meshward's own pipeline and
// workload-certs). Certificates come from openssl (test/support/test-pki.ts).
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { ClusterSchema, Cluster_DiscoveryType } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { CommonTlsContextSchema, DownstreamTlsContextSchema, UpstreamTlsContextSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { adsConfigSource, socketAddress, typedConfig } from "../../src/translate/common.js";
import { httpConnectionManager, httpConnectionManagerFilter, routerFilter } from "../../src/translate/filters.js";
import { HttpConnectionManagerSchema } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { TypeUrl } from "../../src/xds/types.js";
import { MemoryProvider } from "../support/memory-provider.js";
import { startXds, type Harness } from "../support/xds-harness.js";
import { PushRecorder } from "../support/push-recorder.js";
import { makeTestPki, type TestPki } from "../support/test-pki.js";
import { fileWatcherProvider, grpcGoBootstrap, grpcGoPeerOrSkip, proxylessNode, serverListenerTemplate, spawnPeer, type Peer } from "../support/grpc-go-peer.js";

const SPIFFE = "spiffe://cluster.local/ns/default/sa/web";

function bytes<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): Uint8Array {
  return toBinary(schema, create(schema, init));
}

/**
 * Own certificate and CA both from the bootstrap's "default" file_watcher instance. The CA goes in
 * `validation_context`: grpc-go also takes `combined_validation_context.default_validation_context`,
 * but Envoy's rules require a `validation_context_sds_secret_config` beside it.
 */
function commonTls(): MessageInitShape<typeof CommonTlsContextSchema> {
  return {
    tlsCertificateProviderInstance: { instanceName: "default", certificateName: "default" },
    validationContextType: { case: "validationContext", value: { caCertificateProviderInstance: { instanceName: "default", certificateName: "ROOTCA" } } },
  };
}

function seedMtls(provider: MemoryProvider, port: number): void {
  const inbound = serverListenerTemplate.replace("%s", `127.0.0.1:${port}`);
  const hcm = (routing: Parameters<typeof httpConnectionManager>[1]): MessageInitShape<typeof HttpConnectionManagerSchema> => httpConnectionManager("mtls", routing, [routerFilter()]);
  provider.put(
    TypeUrl.Listener,
    inbound,
    bytes(ListenerSchema, {
      name: inbound,
      address: socketAddress("127.0.0.1", port),
      filterChains: [
        {
          name: "inbound-mtls",
          filters: [
            httpConnectionManagerFilter(
              "inbound-hcm",
              hcm({ inline: { name: "inbound", virtualHosts: [{ name: "inbound", domains: ["*"], routes: [{ match: { pathSpecifier: { case: "prefix", value: "/" } }, action: { case: "nonForwardingAction", value: {} } }] }] } }),
            ),
          ],
          transportSocket: { name: "envoy.transport_sockets.tls", configType: { case: "typedConfig", value: typedConfig(DownstreamTlsContextSchema, { commonTlsContext: commonTls(), requireClientCertificate: true }) } },
        },
      ],
    }),
    false,
  );
  provider.put(TypeUrl.Listener, "secure", bytes(ListenerSchema, { name: "secure", apiListener: { apiListener: typedConfig(HttpConnectionManagerSchema, hcm({ rds: "secure" })) } }), false);
  provider.put(
    TypeUrl.RouteConfiguration,
    "secure",
    bytes(RouteConfigurationSchema, {
      name: "secure",
      virtualHosts: [{ name: "secure", domains: ["*"], routes: [{ match: { pathSpecifier: { case: "prefix", value: "" } }, action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: "secure" } } } }] }],
    }),
    false,
  );
  provider.put(
    TypeUrl.Cluster,
    "secure",
    bytes(ClusterSchema, {
      name: "secure",
      clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
      edsClusterConfig: { serviceName: "secure", edsConfig: adsConfigSource() },
      transportSocket: { name: "envoy.transport_sockets.tls", configType: { case: "typedConfig", value: typedConfig(UpstreamTlsContextSchema, { commonTlsContext: commonTls() }) } },
    }),
    false,
  );
  provider.put(
    TypeUrl.ClusterLoadAssignment,
    "secure",
    bytes(ClusterLoadAssignmentSchema, {
      clusterName: "secure",
      endpoints: [{ locality: {}, loadBalancingWeight: 1, lbEndpoints: [{ hostIdentifier: { case: "endpoint", value: { address: socketAddress("127.0.0.1", port) } } }] }],
    }),
    false,
  );
  provider.notify({ all: true });
}

describe("grpc-go mutual TLS configured over xDS (xds credentials, file_watcher)", function () {
  this.timeout(120_000);
  let binary = "";
  let pki: TestPki;
  let h: Harness | undefined;
  const peers: Peer[] = [];

  before(async function () {
    binary = await grpcGoPeerOrSkip(this);
    pki = makeTestPki(SPIFFE);
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await h?.stop();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it("the client's SPIFFE identity reaches the server, and the server's certificate the client", async () => {
    const provider = new MemoryProvider();
    h = await startXds(provider);
    const rec = new PushRecorder(h.xds, provider);
    const serverNode = proxylessNode("secure-server", "default", { app: "secure" });
    const clientNode = proxylessNode("secure-client", "default", { app: "web" });
    rec.expect(serverNode);
    rec.expect(clientNode);
    const server = spawnPeer(binary, "secure-server", ["server", "--xds", "--xds-creds", "--addr", "127.0.0.1:0", "--id", "secure-server"], {
      bootstrap: grpcGoBootstrap({ xdsAddress: h.address, node: serverNode, certificateProviders: fileWatcherProvider(join(pki.dir, "server.crt"), join(pki.dir, "server.key"), join(pki.dir, "ca.crt")) }),
    });
    peers.push(server);
    const port = await server.listeningPort();
    seedMtls(provider, port);
    await server.waitFor((e) => e.event === "serving-mode" && e["mode"] === "SERVING", "serving-mode SERVING");

    const client = spawnPeer(binary, "secure-client", ["client", "--xds-creds", "--target", "xds:///secure", "--calls", "3"], {
      bootstrap: grpcGoBootstrap({ xdsAddress: h.address, node: clientNode, certificateProviders: fileWatcherProvider(join(pki.dir, "client.crt"), join(pki.dir, "client.key"), join(pki.dir, "ca.crt")) }),
    });
    peers.push(client);
    await client.waitFor((e) => e.event === "done", "the end of 3 calls");
    const calls = client.events.filter((e) => e.event === "call");
    assert.equal(calls.length, 3);
    for (const c of calls) assert.deepEqual([c["ok"], c["server"], c["tls"], c["peerIdentity"]], [true, "secure-server", true, "xds"], JSON.stringify(c));
    const served = await server.waitForCount((e) => e.event === "served", 3, "a served call");
    for (const s of served) assert.deepEqual([s["tls"], s["peerIdentity"]], [true, SPIFFE], JSON.stringify(s));
    assert.deepEqual(rec.nacks.map((n) => `${n.typeUrl}: ${n.error}`), []);
    assert.deepEqual(rec.invalid, []);
  });

  it("a plaintext client is refused by the mTLS-only server", async () => {
    const server = peers[0]!;
    const servedBefore = server.events.filter((e) => e.event === "served").length;
    const node = proxylessNode("plain-client", "default", { app: "web" });
    const client = spawnPeer(binary, "plain-client", ["client", "--target", "xds:///secure", "--calls", "1", "--deadline", "3s"], {
      bootstrap: grpcGoBootstrap({ xdsAddress: h!.address, node }),
    });
    peers.push(client);
    const call = await client.waitFor((e) => e.event === "call", "a call result");
    assert.equal(call["ok"], false, JSON.stringify(call));
    assert.equal(server.events.filter((e) => e.event === "served").length, servedBefore);
  });
});
