// Which object kinds the model understands: a registry handed to the model by the composition root
// (src/mesh/model.ts), so the model never imports the stages that own a kind (authz/, risk/). Each
// kind reads and validates its spec and says which proxies a change of it touches. Kinds without an
// entry are kept raw in the snapshot's `others` bag and, when they change, touch every proxy.
import type { ConfigError, ConfigObject } from "./config.js";
import type { FieldProblems } from "./fields.js";
import type { Proxy } from "./proxy.js";
import type { AcceptedObject, MeshSnapshot } from "./snapshot.js";
import { parseServiceEntry } from "./service-entry.js";
import { parseWorkloadEntry } from "./workload-entry.js";
import { parseDestinationRule } from "./destination-rule.js";
import { peerAuthenticationKind } from "./peer-authentication.js";
import { workloadEnforcementKind } from "./workload-enforcement.js";
import { kubernetesKinds } from "./kube-objects.js";
import { VIRTUAL_SERVICE_KIND, virtualServiceKind } from "./virtual-service.js";

/** Which proxies a change of one kind reaches: a predicate, every proxy, or none. */
export type KindTouch = { readonly all: true } | { readonly all: false; affects(proxy: Proxy): boolean };

/**
 * How a change of a kind reaches proxies:
 *  - `all`: any proxy may see it (the default for kinds kept in `others`);
 *  - `none`: no translator reads it (RuntimePolicy: the risk stage reads it);
 *  - `model`: the model folds it into services, workloads or DestinationRules (ServiceEntry,
 *    Service, EndpointSlice, Pod, ...), whose digests say which proxies it touches; it is not
 *    kept in `others`;
 *  - a function of the kind's accepted objects before and after (AuthorizationPolicy: the
 *    proxies its old and new versions select); undefined = none.
 */
export type KindScope =
  | "all"
  | "none"
  | "model"
  | ((before: readonly AcceptedObject[], after: readonly AcceptedObject[], next: MeshSnapshot) => KindTouch | undefined);

export interface KindHandler {
  /** API groups/versions accepted for this kind (`group/version`, `v1` for the core group). */
  readonly apiVersions: readonly string[];
  /** Reads the spec; returns undefined (with errors in `p`) when the object must be rejected. */
  parse(spec: unknown, p: FieldProblems, object: ConfigObject): unknown;
  /** Default `all`. */
  readonly scope?: KindScope;
  /**
   * Rules across the kind's accepted objects (istiod's one selector-less Sidecar per namespace):
   * the problems are reported with the snapshot's errors; the kind decides which object applies.
   */
  check?(accepted: readonly AcceptedObject[]): ConfigError[];
}

/** Kinds by name; the model reads it, the composition root fills it. */
export class KindRegistry {
  private readonly byKind: ReadonlyMap<string, KindHandler>;

  constructor(kinds: Readonly<Record<string, KindHandler>>) {
    this.byKind = new Map(Object.entries(kinds));
  }

  get(kind: string): KindHandler | undefined {
    return this.byKind.get(kind);
  }

  /** Every registered kind's name. */
  names(): string[] {
    return [...this.byKind.keys()];
  }

  scopeOf(kind: string): KindScope {
    return this.byKind.get(kind)?.scope ?? "all";
  }

  /** A registry with these kinds added (or replaced). */
  with(kinds: Readonly<Record<string, KindHandler>>): KindRegistry {
    return new KindRegistry({ ...Object.fromEntries(this.byKind), ...kinds });
  }
}

export const networkingApiVersions = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];

/** Kubernetes' DNS domain when none is configured (istiod's --domain). */
export const defaultClusterDomain = "cluster.local";

/**
 * The kinds the model itself owns: services and workloads (Istio's and Kubernetes'), traffic and
 * peer authentication, and VirtualService routing.
 */
export const modelKinds = new KindRegistry({
  ...kubernetesKinds(defaultClusterDomain),
  ServiceEntry: { apiVersions: networkingApiVersions, parse: (s, p) => parseServiceEntry(s, p), scope: "model" },
  WorkloadEntry: { apiVersions: networkingApiVersions, parse: (s, p) => parseWorkloadEntry(s, p), scope: "model" },
  DestinationRule: { apiVersions: networkingApiVersions, parse: (s, p) => parseDestinationRule(s, p), scope: "model" },
  PeerAuthentication: peerAuthenticationKind,
  WorkloadEnforcement: workloadEnforcementKind,
  [VIRTUAL_SERVICE_KIND]: virtualServiceKind,
});
