// The gRPC xDS bootstrap a proxyless pod reads (GRPC_XDS_BOOTSTRAP), shaped as istio-agent writes it
// (pkg/istio-agent/grpcxds/grpc_bootstrap.go): the xDS server, the node id and Istio metadata, the
// `default` file_watcher certificate provider over the files workload-certs maintains, and the
// server listener name template Istio's grpc generator answers. Without a certificate directory
// (a plaintext workload) the bootstrap has no certificate provider.
import * as path from "node:path";

export const SERVER_LISTENER_TEMPLATE = "xds.istio.io/grpc/lds/inbound/%s";
export const CERT_FILES = { chain: "cert-chain.pem", key: "key.pem", root: "root-cert.pem" } as const;

export interface GrpcBootstrapOptions {
  /** `host:port` of meshward's xDS port (grpc-js-xds speaks plaintext or google_default only). */
  readonly xdsAddress: string;
  /** Where workload-certs keeps the pod's certificates; absent: no `default` provider. */
  readonly certDir?: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podName: string;
  readonly podIp: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly clusterDomain?: string;
  readonly clusterId?: string;
  /** How often grpc re-reads the certificate files; Istio uses 15 minutes. */
  readonly refreshInterval?: string;
  /** The node the pod runs on (NODE_NAME, from the downward API as istio-agent sets it). */
  readonly nodeName?: string;
  /**
   * `region/zone/subzone` the workload says it is in (node.locality); meshward uses it only when
   * its registry knows no locality for the pod. Absent: `{}`.
   */
  readonly locality?: string;
}

export interface GrpcBootstrap {
  readonly xds_servers: ReadonlyArray<{
    readonly server_uri: string;
    readonly channel_creds: ReadonlyArray<{ readonly type: string }>;
    readonly server_features: readonly string[];
  }>;
  readonly node: {
    readonly id: string;
    readonly locality: Readonly<Record<string, string>>;
    readonly metadata: Readonly<Record<string, unknown>>;
  };
  readonly certificate_providers?: Readonly<Record<string, { readonly plugin_name: string; readonly config: Readonly<Record<string, string>> }>>;
  readonly server_listener_resource_name_template: string;
}

/** The gRPC bootstrap's node.locality: only the parts that are set (proto field names). */
function bootstrapLocality(locality: string | undefined): Record<string, string> {
  const [region = "", zone = "", subZone = ""] = (locality ?? "").split("/");
  return { ...(region !== "" ? { region } : {}), ...(zone !== "" ? { zone } : {}), ...(subZone !== "" ? { sub_zone: subZone } : {}) };
}

export function grpcXdsBootstrap(o: GrpcBootstrapOptions): GrpcBootstrap {
  const domain = o.clusterDomain ?? "cluster.local";
  return {
    xds_servers: [{ server_uri: o.xdsAddress, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
    node: {
      id: `sidecar~${o.podIp}~${o.podName}.${o.namespace}~${o.namespace}.svc.${domain}`,
      locality: bootstrapLocality(o.locality),
      metadata: {
        NAMESPACE: o.namespace,
        SERVICE_ACCOUNT: o.serviceAccount,
        GENERATOR: "grpc",
        LABELS: { ...(o.labels ?? {}) },
        INSTANCE_IPS: o.podIp,
        CLUSTER_ID: o.clusterId ?? "Kubernetes",
        ...(o.nodeName !== undefined ? { NODE_NAME: o.nodeName } : {}),
      },
    },
    ...(o.certDir !== undefined ? { certificate_providers: fileWatcherProvider(o.certDir, o.refreshInterval) } : {}),
    server_listener_resource_name_template: SERVER_LISTENER_TEMPLATE,
  };
}

function fileWatcherProvider(certDir: string, refreshInterval = "900s"): NonNullable<GrpcBootstrap["certificate_providers"]> {
  const dir = path.resolve(certDir);
  return {
    default: {
      plugin_name: "file_watcher",
      config: {
        certificate_file: path.join(dir, CERT_FILES.chain),
        private_key_file: path.join(dir, CERT_FILES.key),
        ca_certificate_file: path.join(dir, CERT_FILES.root),
        refresh_interval: refreshInterval,
      },
    },
  };
}
