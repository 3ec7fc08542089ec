// The two pod templates of meshward's injector, after istiod's `injection-template.yaml` (`sidecar`)
// and `grpc-agent.yaml`: what a pod gets so that its agent talks to meshward for xDS and
// certificates. Pure functions of the injection values and the pod; inject.ts decides whether and
// applies them.

/** The parts of a Pod the templates read and write (Kubernetes' field names). */
export interface PodContainer {
  name: string;
  image?: string;
  args?: string[];
  env?: Record<string, unknown>[];
  volumeMounts?: Record<string, unknown>[];
  ports?: { containerPort: number; name?: string; protocol?: string }[];
  [field: string]: unknown;
}
export interface Pod {
  metadata?: { name?: string; generateName?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [f: string]: unknown };
  spec?: {
    containers?: PodContainer[];
    initContainers?: PodContainer[];
    volumes?: Record<string, unknown>[];
    hostNetwork?: boolean;
    serviceAccountName?: string;
    [f: string]: unknown;
  };
}

/** What the injector needs to know about the installation (serve's --inject-* flags, the manifest's values). */
export interface InjectionValues {
  /** The control plane's namespace: agents dial istiod.<namespace>.svc:15012. */
  readonly namespace: string;
  readonly domain: string;
  readonly clusterId: string;
  /** Istio's proxyv2 image for the `sidecar` template. */
  readonly proxyImage: string;
  /** meshward's image for the `grpc-agent` template. */
  readonly agentImage: string;
  /** true: Istio's CNI plugin redirects traffic, so no istio-init container (annotations instead). */
  readonly cni: boolean;
  /** The revision these pods are injected for (istio.io/rev); Istio's default revision is "default". */
  readonly revision: string;
  /**
   * The port proxies get xDS from: 15012 (Istio's), or the stream workers' TLS port when serve
   * runs them (absent: 15012). The CA stays on 15012 (CA_ADDR).
   */
  readonly discoveryPort?: number;
}

/** Istio's proxy version the default proxyImage names (its xDS and CA contract is what meshward serves). */
export const ISTIO_PROXY_VERSION = "1.24.2";
export const DEFAULT_PROXY_IMAGE = `docker.io/istio/proxyv2:${ISTIO_PROXY_VERSION}`;
export const DEFAULT_REVISION = "default";

export const STATUS_ANNOTATION = "sidecar.istio.io/status";
export const TEMPLATES_ANNOTATION = "inject.istio.io/templates";
export const PROXY_CONTAINER = "istio-proxy";
export const INIT_CONTAINER = "istio-init";
/** Where the projected token (audience istio-ca) is mounted, as Istio's agent reads it. */
export const TOKEN_PATH = "/var/run/secrets/tokens/istio-token";
export const CA_AUDIENCE = "istio-ca";
export const ROOT_CERT_DIR = "/var/run/secrets/istio";
export const GRPC_BOOTSTRAP = "/etc/istio/proxy/grpc-bootstrap.json";
export const GRPC_CERT_DIR = "/var/lib/istio/data";
/** The agent's xDS relay, on the volume the app containers share (Istio's pilot-agent: /etc/istio/proxy/XDS). */
export const GRPC_XDS_SOCKET = "/etc/istio/proxy/XDS";
/** Istio's proxy user: iptables leaves its traffic alone. */
const PROXY_UID = 1337;

/** Istio's TLS port, for the CA (CA_ADDR) and, without stream workers, for xDS. */
export const ISTIOD_TLS_PORT = 15012;

export function discoveryAddress(v: InjectionValues): string {
  return `istiod.${v.namespace}.svc:${v.discoveryPort ?? ISTIOD_TLS_PORT}`;
}

export function caAddress(v: InjectionValues): string {
  return `istiod.${v.namespace}.svc:${ISTIOD_TLS_PORT}`;
}

const fieldEnv = (name: string, fieldPath: string): Record<string, unknown> => ({ name, valueFrom: { fieldRef: { fieldPath } } });
const env = (name: string, value: string): Record<string, unknown> => ({ name, value });

/** The volumes both templates share: token, root ConfigMap, pod info, agent state. */
function commonVolumes(): Record<string, unknown>[] {
  return [
    { name: "istio-data", emptyDir: {} },
    {
      name: "istio-podinfo",
      downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }, { path: "annotations", fieldRef: { fieldPath: "metadata.annotations" } }] },
    },
    { name: "istio-token", projected: { sources: [{ serviceAccountToken: { audience: CA_AUDIENCE, expirationSeconds: 43200, path: "istio-token" } }] } },
    { name: "istiod-ca-cert", configMap: { name: "istio-ca-root-cert" } },
  ];
}

/** The downward-API environment pilot-agent and workload-certs read. */
function podEnv(): Record<string, unknown>[] {
  return [
    fieldEnv("POD_NAME", "metadata.name"),
    fieldEnv("POD_NAMESPACE", "metadata.namespace"),
    fieldEnv("INSTANCE_IP", "status.podIP"),
    fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
    fieldEnv("HOST_IP", "status.hostIP"),
    fieldEnv("ISTIO_META_NODE_NAME", "spec.nodeName"),
  ];
}

/** The workload's name Istio reports: the app label, else the pod name without its generated suffix. */
function workloadName(pod: Pod): string {
  const labels = pod.metadata?.labels ?? {};
  const base = pod.metadata?.generateName?.replace(/-$/, "") ?? pod.metadata?.name ?? "pod";
  return labels["app.kubernetes.io/name"] ?? labels["app"] ?? base;
}

/** Istio's labels on an injected pod: mTLS-capable, and its canonical service and revision. */
function meshLabels(pod: Pod): Record<string, string> {
  return { "security.istio.io/tlsMode": "istio", "service.istio.io/canonical-name": workloadName(pod), "service.istio.io/canonical-revision": pod.metadata?.labels?.["version"] ?? "latest" };
}

/** The pod's agent runs as Istio's proxy user, with nothing it could escalate. */
function agentSecurityContext(): Record<string, unknown> {
  return { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, privileged: false, readOnlyRootFilesystem: true, runAsGroup: PROXY_UID, runAsNonRoot: true, runAsUser: PROXY_UID };
}

function appPorts(pod: Pod): string {
  const ports = (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []);
  return JSON.stringify(ports.map((p) => ({ ...(p.name !== undefined ? { name: p.name } : {}), containerPort: p.containerPort, protocol: p.protocol ?? "TCP" })));
}

export interface Injected {
  readonly initContainers: PodContainer[];
  /** Put before the app's containers (the agent starts first). */
  readonly containers: PodContainer[];
  readonly volumes: Record<string, unknown>[];
  readonly annotations: Record<string, string>;
  readonly labels: Record<string, string>;
  /** Changes to each app container (environment and mounts the template gives them). */
  readonly app: (c: PodContainer) => PodContainer;
}

/** Istio's `sidecar` template: istio-proxy (pilot-agent + Envoy) and istio-init or the CNI annotations. */
export function sidecarTemplate(v: InjectionValues, pod: Pod): Injected {
  const appNames = (pod.spec?.containers ?? []).map((c) => c.name).join(",");
  const proxy: PodContainer = {
    name: PROXY_CONTAINER,
    image: v.proxyImage,
    args: ["proxy", "sidecar", "--domain", `$(POD_NAMESPACE).svc.${v.domain}`, "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
    ports: [{ containerPort: 15090, name: "http-envoy-prom", protocol: "TCP" }],
    env: [
      env("PILOT_CERT_PROVIDER", "istiod"),
      env("CA_ADDR", caAddress(v)),
      ...podEnv(),
      env("PROXY_CONFIG", JSON.stringify({ discoveryAddress: discoveryAddress(v) })),
      env("ISTIO_META_POD_PORTS", appPorts(pod)),
      env("ISTIO_META_APP_CONTAINERS", appNames),
      env("ISTIO_META_CLUSTER_ID", v.clusterId),
      env("ISTIO_META_INTERCEPTION_MODE", "REDIRECT"),
      env("ISTIO_META_WORKLOAD_NAME", workloadName(pod)),
    ],
    readinessProbe: { httpGet: { path: "/healthz/ready", port: 15021 }, initialDelaySeconds: 0, periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 },
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "2", memory: "1Gi" } },
    securityContext: agentSecurityContext(),
    volumeMounts: [
      { name: "istiod-ca-cert", mountPath: ROOT_CERT_DIR },
      { name: "istio-data", mountPath: "/var/lib/istio/data" },
      { name: "istio-envoy", mountPath: "/etc/istio/proxy" },
      { name: "istio-token", mountPath: "/var/run/secrets/tokens" },
      { name: "istio-podinfo", mountPath: "/etc/istio/pod" },
    ],
  };
  const init: PodContainer = {
    name: INIT_CONTAINER,
    image: v.proxyImage,
    // Istio's defaults: all outbound to 15001, inbound to 15006, the proxy's own ports left alone.
    args: ["istio-iptables", "-p", "15001", "-z", "15006", "-u", String(PROXY_UID), "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"],
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "2", memory: "1Gi" } },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] },
      privileged: false,
      readOnlyRootFilesystem: false,
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0,
    },
  };
  // With Istio's CNI plugin the node sets up the redirection from these annotations.
  const cniAnnotations: Record<string, string> = v.cni
    ? {
        "sidecar.istio.io/interceptionMode": "REDIRECT",
        "traffic.sidecar.istio.io/includeInboundPorts": "*",
        "traffic.sidecar.istio.io/includeOutboundIPRanges": "*",
        "traffic.sidecar.istio.io/excludeInboundPorts": "15020",
        "traffic.sidecar.istio.io/excludeOutboundIPRanges": "",
      }
    : {};
  const first = pod.spec?.containers?.[0]?.name;
  return {
    initContainers: v.cni ? [] : [init],
    containers: [proxy],
    volumes: [{ name: "istio-envoy", emptyDir: { medium: "Memory" } }, ...commonVolumes()],
    annotations: { ...cniAnnotations, ...(first !== undefined ? { "kubectl.kubernetes.io/default-container": first } : {}) },
    labels: meshLabels(pod),
    app: (c) => c,
  };
}

/**
 * Istio's `grpc-agent` template with meshward's agent: `meshward workload-certs` obtains and rotates
 * the pod's certificate and writes the gRPC xDS bootstrap to a volume the app containers share, which
 * GRPC_XDS_BOOTSTRAP points them at. It keeps Istio's container name (istio-proxy), as Istio's
 * grpc-agent template does, so Istio's tools find the pod's agent.
 */
export function grpcAgentTemplate(v: InjectionValues, pod: Pod): Injected {
  const agent: PodContainer = {
    name: PROXY_CONTAINER,
    image: v.agentImage,
    args: [
      "workload-certs",
      `--token-file=${TOKEN_PATH}`,
      `--ca-address=${caAddress(v)}`,
      `--ca-root=${ROOT_CERT_DIR}/root-cert.pem`,
      // The serving certificate names the Service of the control plane's namespace.
      `--ca-server-name=istiod.${v.namespace}.svc`,
      `--out=${GRPC_CERT_DIR}`,
      `--bootstrap=${GRPC_BOOTSTRAP}`,
      `--xds-address=${discoveryAddress(v)}`,
      // grpc-js-xds speaks plaintext to its xDS server: the agent relays it over TLS with the token.
      `--xds-relay=unix://${GRPC_XDS_SOCKET}`,
      "--pod-name=$(POD_NAME)",
      "--pod-ip=$(INSTANCE_IP)",
    ],
    env: [...podEnv(), env("ISTIO_META_CLUSTER_ID", v.clusterId), env("ISTIO_META_GENERATOR", "grpc")],
    resources: { requests: { cpu: "10m", memory: "64Mi" } },
    securityContext: agentSecurityContext(),
    volumeMounts: [
      { name: "istiod-ca-cert", mountPath: ROOT_CERT_DIR },
      { name: "istio-data", mountPath: GRPC_CERT_DIR },
      { name: "istio-xds", mountPath: "/etc/istio/proxy" },
      { name: "istio-token", mountPath: "/var/run/secrets/tokens" },
      { name: "istio-podinfo", mountPath: "/etc/istio/pod" },
    ],
  };
  const app = (c: PodContainer): PodContainer => ({
    ...c,
    env: [...(c.env ?? []), env("GRPC_XDS_BOOTSTRAP", GRPC_BOOTSTRAP), env("GRPC_XDS_EXPERIMENTAL_SECURITY_SUPPORT", "true")],
    volumeMounts: [...(c.volumeMounts ?? []), { name: "istio-xds", mountPath: "/etc/istio/proxy" }, { name: "istio-data", mountPath: GRPC_CERT_DIR, readOnly: true }],
  });
  const first = pod.spec?.containers?.[0]?.name;
  return {
    initContainers: [],
    containers: [agent],
    volumes: [{ name: "istio-xds", emptyDir: {} }, ...commonVolumes()],
    annotations: first !== undefined ? { "kubectl.kubernetes.io/default-container": first } : {},
    labels: meshLabels(pod),
    app,
  };
}
