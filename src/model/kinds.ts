// Which object kinds the model understands, and how each spec is read. A later issue adds its kind
// (PeerAuthentication, AuthorizationPolicy, RuntimePolicy, ...) with ONE entry here; kinds without
// an entry are kept raw in the snapshot's `others` bag.
import type { ConfigObject } from "./config.js";
import { type FieldProblems } from "./fields.js";
import { parseServiceEntry } from "./service-entry.js";
import { parseWorkloadEntry } from "./workload-entry.js";
import { parseDestinationRule } from "./destination-rule.js";
import { authorizationPolicyKind } from "../authz/model-kind.js";
import { runtimePolicyKind } from "../risk/model-kind.js";
import { peerAuthenticationKind } from "./peer-authentication.js";
import { workloadEnforcementKind } from "./workload-enforcement.js";

export interface KindHandler {
  /** API groups/versions accepted for this kind (`group/version`). */
  readonly apiVersions: readonly string[];
  /** Reads the spec; returns undefined (with errors in `p`) when the object must be rejected. */
  parse(spec: unknown, p: FieldProblems, object: ConfigObject): unknown;
  /** false: no translator reads this kind, so a change to it touches no proxy (RuntimePolicy). */
  readonly translated?: false;
}

const networking = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];

export const kindHandlers: Readonly<Record<string, KindHandler>> = {
  ServiceEntry: { apiVersions: networking, parse: (s, p) => parseServiceEntry(s, p) },
  WorkloadEntry: { apiVersions: networking, parse: (s, p) => parseWorkloadEntry(s, p) },
  DestinationRule: { apiVersions: networking, parse: (s, p) => parseDestinationRule(s, p) },
  AuthorizationPolicy: authorizationPolicyKind,
  PeerAuthentication: peerAuthenticationKind,
  RuntimePolicy: runtimePolicyKind,
  WorkloadEnforcement: workloadEnforcementKind,
};

/** Kinds no translator reads: left out of the digests proxies' resources are keyed on. */
export const untranslatedKinds: ReadonlySet<string> = new Set(
  Object.entries(kindHandlers).filter(([, h]) => h.translated === false).map(([kind]) => kind),
);
