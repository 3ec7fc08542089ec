// The read API's view of the model: services, workloads with their identity, mTLS mode and
// effective authorization (which policies apply, by action), and who may call whom. Built from the
// snapshot meshward serves (the enforcement overlay included, so a quarantined pod shows as
// denied), with the analyzers' workload list and the model's own PeerAuthentication composition.
import { workloadsOf, type AnalyzedWorkload } from "../analysis/analyzers.js";
import { snapshotPolicies } from "../authz/mesh-input.js";
import { selectPolicies } from "../authz/select.js";
import type { AuthorizationPolicy } from "../authz/policy.js";
import { formatConfigError } from "../model/config.js";
import { peerAuthenticationFor, type EffectiveMtlsMode } from "../model/peer-authentication.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import { spiffeId } from "../security/identity.js";
import { decideCall, type CallDecision, type CallParty } from "./call-graph.js";

/** The call graph covers at most this many workloads (their square is the number of pairs). */
export const CALL_GRAPH_MAX_WORKLOADS = 100;

export interface ServiceView {
  readonly host: string;
  readonly namespace: string;
  /** The object that declares it and its file or resource. */
  readonly source: string;
  readonly origin: string;
  readonly location: string;
  /** `number/protocol name`. */
  readonly ports: readonly string[];
  /** Refs of the workloads behind it. */
  readonly workloads: readonly string[];
}

export interface AuthorizationView {
  readonly custom: readonly string[];
  readonly deny: readonly string[];
  readonly allow: readonly string[];
  readonly audit: readonly string[];
}

export interface WorkloadView {
  readonly ref: string;
  readonly namespace: string;
  readonly address: string;
  /** SPIFFE id. */
  readonly identity: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly services: readonly string[];
  /** The PeerAuthentication mode it accepts calls with; ports that differ are in portMtls. */
  readonly mtls: EffectiveMtlsMode;
  readonly portMtls: Readonly<Record<string, EffectiveMtlsMode>>;
  readonly authorization: AuthorizationView;
}

export interface CallView {
  readonly from: string;
  readonly to: string;
  readonly fromIdentity: string;
  readonly mtls: EffectiveMtlsMode;
  readonly decision: CallDecision;
  readonly by: readonly string[];
}

export interface MeshView {
  readonly generation: number;
  readonly trustDomain: string;
  readonly rootNamespace: string;
  readonly services: readonly ServiceView[];
  readonly workloads: readonly WorkloadView[];
  readonly calls: readonly CallView[];
  /** More workloads than CALL_GRAPH_MAX_WORKLOADS: calls cover the first ones only. */
  readonly callsTruncated: boolean;
  /** Rejected objects and warnings, as `meshward validate` prints them. */
  readonly problems: readonly string[];
}

const refs = (ps: readonly AuthorizationPolicy[]): string[] => ps.map((p) => `${p.namespace}/${p.name}`);

function party(w: AnalyzedWorkload): CallParty {
  return { namespace: w.namespace, labels: w.labels, address: w.address, trustDomain: w.identity.trustDomain, serviceAccount: w.identity.serviceAccount };
}

const views = new WeakMap<MeshSnapshot, MeshView>();

/** The view of a snapshot, computed once per snapshot (a snapshot is immutable; polls repeat). */
export function meshView(snapshot: MeshSnapshot): MeshView {
  let v = views.get(snapshot);
  if (v === undefined) {
    v = computeMeshView(snapshot);
    views.set(snapshot, v);
  }
  return v;
}

/** The view built from scratch (meshView caches it per snapshot). */
export function computeMeshView(snapshot: MeshSnapshot): MeshView {
  const workloads = workloadsOf(snapshot);
  const policies = snapshotPolicies(snapshot);
  const root = snapshot.mesh.rootNamespace;
  const servicesOf = new Map<string, string[]>();
  const services: ServiceView[] = snapshot.services.map((s) => {
    const behind = new Set<string>();
    for (const e of s.endpoints) {
      const ref = e.workload ?? `${s.source} endpoint ${e.address}`;
      behind.add(ref);
      const list = servicesOf.get(ref) ?? [];
      if (!list.includes(s.hostname)) list.push(s.hostname);
      servicesOf.set(ref, list);
    }
    return {
      host: s.hostname,
      namespace: s.namespace,
      source: s.source,
      origin: snapshot.accepted.get(s.source)?.object.origin.file ?? "",
      location: s.location,
      ports: s.ports.map((p) => `${p.number}/${p.protocol} ${p.name}`),
      workloads: [...behind].sort(),
    };
  });
  const modes = new Map<string, EffectiveMtlsMode>();
  const views: WorkloadView[] = workloads.map((w) => {
    const pa = peerAuthenticationFor(snapshot, w);
    modes.set(w.ref, pa.mode);
    const applied = selectPolicies(policies, w, root);
    return {
      ref: w.ref,
      namespace: w.namespace,
      address: w.address,
      identity: spiffeId(w.identity),
      labels: w.labels,
      services: servicesOf.get(w.ref) ?? [],
      mtls: pa.mode,
      portMtls: Object.fromEntries([...pa.portLevel].filter(([, m]) => m !== pa.mode).map(([port, m]) => [String(port), m])),
      authorization: { custom: refs(applied.custom), deny: refs(applied.deny), allow: refs(applied.allow), audit: refs(applied.audit) },
    };
  });
  const graphed = workloads.slice(0, CALL_GRAPH_MAX_WORKLOADS);
  const calls: CallView[] = [];
  for (const to of graphed) {
    const mtls = modes.get(to.ref) ?? "PERMISSIVE";
    for (const from of graphed) {
      if (from.ref === to.ref) continue;
      // PERMISSIVE accepts mTLS, and meshward's clients use it toward mesh workloads (auto mTLS).
      const verdict = decideCall(policies, root, party(from), party(to), mtls !== "DISABLE");
      calls.push({ from: from.ref, to: to.ref, fromIdentity: spiffeId(from.identity), mtls, decision: verdict.decision, by: verdict.by });
    }
  }
  return {
    generation: snapshot.generation,
    trustDomain: snapshot.mesh.trustDomain,
    rootNamespace: root,
    services,
    workloads: views,
    calls,
    callsTruncated: workloads.length > graphed.length,
    problems: snapshot.errors.map(formatConfigError),
  };
}
