// What installs meshward's control plane in a cluster, as `istioctl manifest generate` prints
// Istio's: its namespace, meshward's own CRDs, least-privilege RBAC, the Deployment and the Service
// Istio's proxies and agents look for (`istiod.<namespace>.svc`: 15010, 15012, 15014). One pure
// function of the install values, so `manifest generate`, `install` and `uninstall` work from the
// same list. Istio's own CRDs are not here: they come from Istio's release (see the README).
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { crdOf, WORKLOAD_ENFORCEMENT_DEFINITION } from "../kube/crds.js";
import { DEFAULT_LEASE_NAME } from "../kube/leader.js";
import { CACERTS_SECRET, SELF_SIGNED_CA_SECRET } from "../ca/kube-signer-store.js";
import { injectorName, validatorName } from "../webhook/ca-bundle.js";
import { VALIDATE_PATH } from "../webhook/server.js";
import { DEFAULT_PROXY_IMAGE, DEFAULT_REVISION } from "../webhook/inject-templates.js";
import { mutatingWebhook } from "./injector.js";
import { agentObjects } from "./node-agent.js";

/** A Kubernetes object as applied: apiVersion, kind, metadata and the rest. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** The values `--set key=value` changes; every default is named here. */
export interface InstallValues {
  /** The control plane's namespace (Istio's: istio-system). */
  readonly namespace: string;
  /** The control plane's container image. */
  readonly image: string;
  readonly imagePullPolicy: string;
  /** Control plane replicas; each serves xDS and the CA, one Lease holder does the once-only work. */
  readonly replicas: number;
  /** istiod's default requests. */
  readonly cpuRequest: string;
  readonly memoryRequest: string;
  /** Kubernetes' DNS domain. */
  readonly domain: string;
  /** CLUSTER_ID of this cluster (Istio's default `Kubernetes`). */
  readonly clusterId: string;
  /** Istio's proxy image the `sidecar` template injects. */
  readonly proxyImage: string;
  /** true: Istio's CNI plugin is installed, so injected pods get its annotations instead of istio-init. */
  readonly cni: boolean;
  /** The revision meshward injects for (istio.io/rev). */
  readonly revision: string;
  /**
   * Namespaces whose Secrets hold gateway credentials (Gateway tls.credentialName), comma-separated:
   * each gets a Role letting the control plane read its Secrets (default empty: none, no Secret is
   * read beyond the CA's own).
   */
  readonly gatewayNamespaces: string;
  /**
   * Stream worker processes serving xDS (serve --xds-workers; default 0: xDS in the main process).
   * With N > 0 each replica serves xDS over TLS on 15013 from its workers, the Service exposes
   * 15013, and injected proxies use it as their discoveryAddress (CA_ADDR stays on 15012).
   */
  readonly xdsWorkers: number;
}

export const DEFAULT_INSTALL_VALUES: InstallValues = {
  namespace: "istio-system",
  image: "meshward:0.1.0",
  imagePullPolicy: "IfNotPresent",
  replicas: 1,
  cpuRequest: "500m",
  memoryRequest: "2048Mi",
  domain: "cluster.local",
  clusterId: "Kubernetes",
  proxyImage: DEFAULT_PROXY_IMAGE,
  cni: false,
  revision: DEFAULT_REVISION,
  gatewayNamespaces: "",
  xdsWorkers: 0,
};

/** The workers' TLS xDS port (serve's DEFAULT_XDS_WORKERS_TLS_ADDRESS), with xdsWorkers > 0. */
export const XDS_WORKERS_TLS_PORT = 15013;

/** The name Istio's proxies and agents dial (`istiod.<ns>.svc:15012`). */
export const CONTROL_PLANE_SERVICE = "istiod";
export const CONTROL_PLANE_NAME = "meshward";
const LABELS = { app: "istiod", "app.kubernetes.io/name": "meshward", "app.kubernetes.io/managed-by": "meshward" };

/** `--set key=value` pairs over the defaults; an unknown key or a bad value is an error naming it. */
export function installValues(sets: readonly string[]): InstallValues {
  const out: Record<string, string | number | boolean> = { ...DEFAULT_INSTALL_VALUES };
  for (const s of sets) {
    const eq = s.indexOf("=");
    if (eq <= 0) throw new Error(`--set ${s}: want key=value`);
    const key = s.slice(0, eq);
    const value = s.slice(eq + 1);
    if (!Object.hasOwn(DEFAULT_INSTALL_VALUES, key)) throw new Error(`--set ${key}: unknown value (known: ${Object.keys(DEFAULT_INSTALL_VALUES).join(", ")})`);
    const kind = typeof DEFAULT_INSTALL_VALUES[key as keyof InstallValues];
    if (kind === "boolean") {
      if (value !== "true" && value !== "false") throw new Error(`--set ${key}=${value}: want true or false`);
      out[key] = value === "true";
    } else if (kind === "number") {
      const n = Number(value);
      const min = key === "xdsWorkers" ? 0 : 1;
      if (!Number.isInteger(n) || n < min) throw new Error(`--set ${key}=${value}: want a whole number of at least ${min}`);
      out[key] = n;
    } else {
      if (value === "" && key !== "gatewayNamespaces") throw new Error(`--set ${key}: must not be empty`);
      out[key] = value;
    }
  }
  for (const ns of gatewayNamespacesOf(out as unknown as InstallValues)) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns)) throw new Error(`--set gatewayNamespaces: "${ns}" is not a valid namespace name`);
  }
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(String(out["namespace"]))) throw new Error(`--set namespace=${out["namespace"]}: not a valid namespace name`);
  return out as unknown as InstallValues;
}

/** RuntimePolicy's CRD: the project's schema file, which test/risk/runtime-policy.test.ts checks against the parser. */
function runtimePolicyCrd(): KubeObject {
  return parse(readFileSync(new URL("../../../manifests/runtimepolicy-crd.yaml", import.meta.url), "utf8")) as KubeObject;
}

/**
 * client-node's model of a CRD names a few schema keywords differently from the wire (`_enum`,
 * `x_kubernetes_preserve_unknown_fields`); the manifest carries the wire names.
 */
export function wireForm(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(wireForm);
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined) continue;
    const key = k.startsWith("x_kubernetes_") ? k.replace(/_/g, "-") : k === "_enum" || k === "_default" || k === "_not" ? k.slice(1) : k;
    out[key] = wireForm(x);
  }
  return out;
}

/** Everything the control plane reads across the cluster, and the little it writes. */
function clusterRole(v: InstallValues): KubeObject {
  const read = ["get", "list", "watch"];
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: `${CONTROL_PLANE_NAME}-${v.namespace}`, labels: LABELS },
    rules: [
      { apiGroups: [""], resources: ["namespaces", "services", "pods", "nodes"], verbs: read },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: read },
      // istio-ca-root-cert in every namespace, kept current by the Lease holder.
      { apiGroups: [""], resources: ["configmaps"], verbs: [...read, "create", "update"] },
      { apiGroups: ["security.istio.io", "networking.istio.io"], resources: ["*"], verbs: read },
      // Kubernetes Gateway API: read, converted onto Istio's kinds; the leader writes their status.
      { apiGroups: ["gateway.networking.k8s.io"], resources: ["gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants"], verbs: read },
      { apiGroups: ["gateway.networking.k8s.io"], resources: ["gatewayclasses/status", "gateways/status", "httproutes/status", "grpcroutes/status"], verbs: ["get", "update", "patch"] },
      // Rejected objects get their reasons on status.
      { apiGroups: ["security.istio.io", "networking.istio.io", "meshward.io"], resources: ["*/status"], verbs: ["get", "update", "patch"] },
      { apiGroups: ["meshward.io"], resources: ["runtimepolicies"], verbs: read },
      // Quarantines shared between replicas.
      { apiGroups: ["meshward.io"], resources: ["workloadenforcements"], verbs: [...read, "create", "update", "delete"] },
      { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
      // The Lease holder keeps the validating webhook's caBundle current.
      { apiGroups: ["admissionregistration.k8s.io"], resources: ["validatingwebhookconfigurations"], resourceNames: [validatorName(v.namespace)], verbs: ["get", "update"] },
      // ... and the injector's.
      { apiGroups: ["admissionregistration.k8s.io"], resources: ["mutatingwebhookconfigurations"], resourceNames: [injectorName(v.namespace)], verbs: ["get", "update"] },
      // A replica checks that meshward's CRDs are established (the install creates them).
      { apiGroups: ["apiextensions.k8s.io"], resources: ["customresourcedefinitions"], verbs: ["get"] },
    ],
  };
}

/** The namespaces of `gatewayNamespaces`. */
export function gatewayNamespacesOf(v: InstallValues): string[] {
  return [...new Set(v.gatewayNamespaces.split(",").map((n) => n.trim()).filter((n) => n !== ""))];
}

/** Reading the Secrets of one gateway namespace: the credentials its gateways' servers name. */
function gatewayCredentialsRole(namespace: string): KubeObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: `${CONTROL_PLANE_NAME}-gateway-credentials`, namespace, labels: LABELS },
    rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] }],
  };
}

/** Secrets and the Lease, in the control plane's namespace only: written by name where Kubernetes allows it. */
function namespaceRole(v: InstallValues): KubeObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: CONTROL_PLANE_NAME, namespace: v.namespace, labels: LABELS },
    rules: [
      { apiGroups: [""], resources: ["secrets"], resourceNames: [CACERTS_SECRET, SELF_SIGNED_CA_SECRET], verbs: ["get", "update"] },
      // create cannot be limited by name (the name is in the body).
      { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
      // Remote clusters: Secrets labelled istio/multiCluster=true in this namespace (a label selector
      // cannot be limited by name), read as istiod's Role reads them. Gateway credentials in other
      // namespaces only with the gatewayNamespaces value.
      { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: [DEFAULT_LEASE_NAME], verbs: ["get", "update"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
    ],
  };
}

function deployment(v: InstallValues): KubeObject {
  const env = (name: string, fieldPath: string): unknown => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: CONTROL_PLANE_NAME, namespace: v.namespace, labels: LABELS },
    spec: {
      replicas: v.replicas,
      selector: { matchLabels: { app: "istiod", "app.kubernetes.io/name": "meshward" } },
      template: {
        metadata: { labels: LABELS },
        spec: {
          serviceAccountName: CONTROL_PLANE_NAME,
          securityContext: { runAsNonRoot: true, runAsUser: 1337, runAsGroup: 1337, fsGroup: 1337, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "discovery",
              image: v.image,
              imagePullPolicy: v.imagePullPolicy,
              args: [
                "serve",
                `--namespace=${v.namespace}`,
                `--cluster-id=${v.clusterId}`,
                `--domain=${v.domain}`,
                // Every replica serves xDS and the CA on Istio's ports; the plaintext port still
                // answers loopback callers only.
                "--xds-address=0.0.0.0:15010",
                "--tls-address=0.0.0.0:15012",
                "--monitoring-address=0.0.0.0:15014",
                `--ca-dns-names=${CONTROL_PLANE_SERVICE}.${v.namespace}.svc,${CONTROL_PLANE_SERVICE}.${v.namespace}.svc.${v.domain}`,
                "--data-dir=/var/lib/meshward/data",
                "--webhook-address=0.0.0.0:15017",
                `--inject-proxy-image=${v.proxyImage}`,
                `--inject-agent-image=${v.image}`,
                `--inject-revision=${v.revision}`,
                ...(v.cni ? ["--inject-cni"] : []),
                ...(gatewayNamespacesOf(v).length > 0 ? [`--gateway-secret-namespaces=${gatewayNamespacesOf(v).join(",")}`] : []),
                ...(v.xdsWorkers > 0 ? [`--xds-workers=${v.xdsWorkers}`, `--xds-workers-tls-address=0.0.0.0:${XDS_WORKERS_TLS_PORT}`] : []),
              ],
              env: [env("POD_NAME", "metadata.name"), env("POD_NAMESPACE", "metadata.namespace")],
              ports: [
                { name: "grpc-xds", containerPort: 15010, protocol: "TCP" },
                { name: "https-dns", containerPort: 15012, protocol: "TCP" },
                ...(v.xdsWorkers > 0 ? [{ name: "tls-xds-workers", containerPort: XDS_WORKERS_TLS_PORT, protocol: "TCP" }] : []),
                { name: "http-monitoring", containerPort: 15014, protocol: "TCP" },
                { name: "https-webhooks", containerPort: 15017, protocol: "TCP" },
              ],
              readinessProbe: { httpGet: { path: "/readyz", port: 15014 }, initialDelaySeconds: 1, periodSeconds: 3, timeoutSeconds: 5 },
              livenessProbe: { httpGet: { path: "/healthz", port: 15014 }, initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 5 },
              resources: { requests: { cpu: v.cpuRequest, memory: v.memoryRequest } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
              volumeMounts: [{ name: "data", mountPath: "/var/lib/meshward" }],
            },
          ],
          // Keys and the audit database live below it (meshward makes data/ 0700 and checks it); the CA root
          // itself is in the istio-ca-secret / cacerts Secret, shared by every replica.
          volumes: [{ name: "data", emptyDir: {} }],
        },
      },
    },
  };
}

function service(v: InstallValues): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: CONTROL_PLANE_SERVICE, namespace: v.namespace, labels: LABELS },
    spec: {
      selector: { app: "istiod", "app.kubernetes.io/name": "meshward" },
      ports: [
        { name: "grpc-xds", port: 15010, targetPort: 15010, protocol: "TCP" },
        { name: "https-dns", port: 15012, targetPort: 15012, protocol: "TCP" },
        ...(v.xdsWorkers > 0 ? [{ name: "tls-xds-workers", port: XDS_WORKERS_TLS_PORT, targetPort: XDS_WORKERS_TLS_PORT, protocol: "TCP" }] : []),
        { name: "http-monitoring", port: 15014, targetPort: 15014, protocol: "TCP" },
        { name: "https-webhook", port: 443, targetPort: 15017, protocol: "TCP" },
      ],
    },
  };
}

/**
 * Istio's istio-validator role for the kinds meshward reads: every create and update of an Istio
 * security or networking object or a meshward object is judged by meshward first. Installed with
 * failurePolicy Ignore and no caBundle (the root is made by the first replica); the Lease holder
 * then sets both (caBundle = the mesh roots, failurePolicy Fail), as istiod's webhook controller.
 */
export function validatingWebhook(v: InstallValues): KubeObject {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: validatorName(v.namespace), labels: LABELS },
    webhooks: [
      {
        name: "rev.validation.meshward.io",
        clientConfig: { service: { name: CONTROL_PLANE_SERVICE, namespace: v.namespace, path: VALIDATE_PATH, port: 443 } },
        rules: [{ operations: ["CREATE", "UPDATE"], apiGroups: ["security.istio.io", "networking.istio.io", "meshward.io"], apiVersions: ["*"], resources: ["*"] }],
        failurePolicy: "Ignore",
        sideEffects: "None",
        admissionReviewVersions: ["v1"],
        timeoutSeconds: 10,
      },
    ],
  };
}

/** The objects, in the order they must be applied (and the reverse of the order they are removed). */
export function installManifest(v: InstallValues = DEFAULT_INSTALL_VALUES): KubeObject[] {
  const binding = (kind: "ClusterRoleBinding" | "RoleBinding", role: KubeObject): KubeObject => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind,
    metadata: { name: role.metadata.name, ...(kind === "RoleBinding" ? { namespace: role.metadata.namespace ?? v.namespace } : {}), labels: LABELS },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: kind === "RoleBinding" ? "Role" : "ClusterRole", name: role.metadata.name },
    subjects: [{ kind: "ServiceAccount", name: CONTROL_PLANE_NAME, namespace: v.namespace }],
  });
  const cr = clusterRole(v);
  const role = namespaceRole(v);
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: v.namespace, labels: { "app.kubernetes.io/managed-by": "meshward" } } },
    runtimePolicyCrd(),
    wireForm(crdOf(WORKLOAD_ENFORCEMENT_DEFINITION)) as KubeObject,
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: CONTROL_PLANE_NAME, namespace: v.namespace, labels: LABELS } },
    cr,
    binding("ClusterRoleBinding", cr),
    role,
    binding("RoleBinding", role),
    ...gatewayNamespacesOf(v).flatMap((ns) => {
      const r = gatewayCredentialsRole(ns);
      return [r, binding("RoleBinding", r)];
    }),
    deployment(v),
    service(v),
    ...agentObjects(v, CONTROL_PLANE_SERVICE),
    validatingWebhook(v),
    mutatingWebhook(v, LABELS, CONTROL_PLANE_SERVICE),
  ];
}
