// The push benchmark's synthetic mesh (bench/synthetic-mesh.ts: S HTTP services on 8080 in
// namespaces ns-0..ns-9, 3 endpoints each) expressed as ServiceEntries and served by the real
// pipeline (snapshot -> translators -> MeshResourceProvider) instead of hand-built resources.
// Same interface as SyntheticMesh, so bench:xds-push can measure the real translators by swapping
// one import.
import { buildSnapshot, type MeshSnapshot } from "../src/model/snapshot.js";
import type { ConfigObject } from "../src/model/config.js";
import type { Proxy } from "../src/model/proxy.js";
import { MeshResourceProvider } from "../src/mesh/provider.js";
import { PushOrder, type EncodedResource, type ProxyChange, type ResourceProvider, type TypeUrl } from "../src/xds/types.js";
import { outboundCluster, serviceApp, serviceHost } from "./synthetic-mesh.js";

const PORT = 8080;

export class MeshBackedSyntheticMesh implements ResourceProvider {
  private readonly provider = new MeshResourceProvider();
  private readonly endpointCounts: number[];
  private snapshot: MeshSnapshot | undefined;

  constructor(
    readonly services: number,
    endpointsPerService = 3,
  ) {
    this.endpointCounts = Array.from({ length: services }, () => endpointsPerService);
    this.rebuild();
  }

  private objects(): ConfigObject[] {
    return this.endpointCounts.map((count, i) => ({
      apiVersion: "networking.istio.io/v1",
      kind: "ServiceEntry",
      metadata: { name: serviceApp(i), namespace: `ns-${i % 10}`, labels: {}, annotations: {} },
      spec: {
        hosts: [serviceHost(i)],
        ports: [{ number: PORT, name: "http", protocol: "HTTP" }],
        location: "MESH_INTERNAL",
        resolution: "STATIC",
        endpoints: Array.from({ length: count }, (_, k) => ({ address: `10.${(i >> 8) & 255}.${i & 255}.${k + 1}`, labels: { app: serviceApp(i) }, locality: "us-east1/us-east1-b" })),
      },
      origin: { file: "bench" },
    }));
  }

  private rebuild(): void {
    this.snapshot = buildSnapshot({ objects: this.objects(), errors: [] }, this.snapshot);
    this.provider.update(this.snapshot);
  }

  resources(proxy: Proxy, typeUrl: TypeUrl): ReadonlyMap<string, EncodedResource> {
    return this.provider.resources(proxy, typeUrl);
  }

  onChange(listener: (c: ProxyChange) => void): () => void {
    return this.provider.onChange(listener);
  }

  /** One more endpoint for service `i`; returns the cluster (and EDS) name that changes. */
  addEndpoint(i: number): string {
    this.endpointCounts[i] = (this.endpointCounts[i] ?? 0) + 1;
    this.rebuild();
    return outboundCluster(i);
  }

  /** Bytes of the distinct encodings one sidecar of service 0 receives. */
  encodedBytes(): number {
    const probe = { id: `sidecar~10.255.255.1~probe.ns-0~ns-0.svc.cluster.local`, type: "sidecar", flavour: "envoy", ips: ["10.255.255.1"], podName: "probe", namespace: "ns-0", serviceAccount: "default", labels: { app: serviceApp(0) }, clusterId: "Kubernetes", metadata: {} } satisfies Proxy;
    let bytes = 0;
    for (const t of PushOrder) for (const r of this.provider.resources(probe, t).values()) bytes += r.bytes.length;
    return bytes;
  }
}
