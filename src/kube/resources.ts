// The apiserver resources meshward reads, named once: group, version, kind and plural (the URL
// segment), so a source and a test name a resource the same way. Istio kinds are listed at the
// versions Istio serves; meshward reads each kind at the newest version the apiserver stores.
export interface KubeResource {
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

/** `v1` or `group/version`, as apiVersion fields say it. */
export function apiVersionOf(r: Pick<KubeResource, "group" | "version">): string {
  return r.group === "" ? r.version : `${r.group}/${r.version}`;
}

/** The collection's path, cluster-wide (or in one namespace). */
export function collectionPath(r: KubeResource, namespace?: string): string {
  const base = r.group === "" ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  return `${base}${namespace !== undefined && r.namespaced ? `/namespaces/${namespace}` : ""}/${r.plural}`;
}

/** `group/version/Kind` (`v1/Pod` for the core group): how origins and logs name a resource. */
export function resourceName(r: KubeResource): string {
  return `${apiVersionOf(r)}/${r.kind}`;
}

const core = (kind: string, plural: string, namespaced = true): KubeResource => ({ group: "", version: "v1", kind, plural, namespaced });
const istio = (group: string, version: string, kind: string, plural: string): KubeResource => ({ group, version, kind, plural, namespaced: true });

export const NamespaceResource = core("Namespace", "namespaces", false);
export const NodeResource = core("Node", "nodes", false);
export const ServiceResource = core("Service", "services");
export const PodResource = core("Pod", "pods");
/** Remote-cluster Secrets (multicluster), in the control plane's namespace only. */
export const SecretResource = core("Secret", "secrets");
export const EndpointSliceResource: KubeResource = { group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice", plural: "endpointslices", namespaced: true };

/** The Kubernetes kinds of the service registry. */
export const registryResources: readonly KubeResource[] = [NamespaceResource, NodeResource, ServiceResource, EndpointSliceResource, PodResource];

/**
 * Istio's kinds that meshward reads (security.istio.io v1, networking.istio.io v1), at v1: the
 * apiserver converts objects written as v1beta1/v1alpha3 (the CRDs serve every version from one
 * storage), so one watch per kind sees them all.
 */
export const istioResources: readonly KubeResource[] = [
  istio("security.istio.io", "v1", "AuthorizationPolicy", "authorizationpolicies"),
  istio("security.istio.io", "v1", "PeerAuthentication", "peerauthentications"),
  istio("networking.istio.io", "v1", "ServiceEntry", "serviceentries"),
  istio("networking.istio.io", "v1", "WorkloadEntry", "workloadentries"),
  istio("networking.istio.io", "v1", "DestinationRule", "destinationrules"),
  istio("networking.istio.io", "v1", "VirtualService", "virtualservices"),
  istio("networking.istio.io", "v1", "Gateway", "gateways"),
  istio("networking.istio.io", "v1", "Sidecar", "sidecars"),
];

const gatewayApi = (kind: string, plural: string, namespaced = true): KubeResource => ({ group: "gateway.networking.k8s.io", version: "v1", kind, plural, namespaced });

/**
 * The Kubernetes Gateway API kinds meshward converts onto Istio's (src/gateway-api/), read when
 * their CRDs (sigs.k8s.io/gateway-api's standard channel) are installed.
 */
export const gatewayApiResources: readonly KubeResource[] = [
  gatewayApi("GatewayClass", "gatewayclasses", false),
  gatewayApi("Gateway", "gateways"),
  gatewayApi("HTTPRoute", "httproutes"),
  gatewayApi("GRPCRoute", "grpcroutes"),
  gatewayApi("ReferenceGrant", "referencegrants"),
];

/** meshward's own kinds (meshward.io), read when their CRDs are installed. */
export const meshwardResources: readonly KubeResource[] = [
  istio("meshward.io", "v1alpha1", "RuntimePolicy", "runtimepolicies"),
  istio("meshward.io", "v1alpha1", "WorkloadEnforcement", "workloadenforcements"),
];
