// The read API's view of the model: services, workloads with their identity, mTLS mode and
// effective authorization (which policies apply, by action), and who may call whom and how (mTLS,
// plaintext, or refused). Built from the
// snapshot meshward serves (the enforcement overlay included, so a quarantined pod shows as
// denied), with the analyzers' workload list and the model's own PeerAuthentication composition.
import { workloadsOf, type AnalyzedWorkload } from "../analysis/analyzers.js";
import { snapshotPolicies } from "../authz/mesh-input.js";
import { selectPolicies } from "../authz/select.js";
import type { AuthorizationPolicy } from "../authz/policy.js";
import { formatConfigError } from "../model/config.js";
import { peerAuthenticationFor, type EffectiveMtlsMode } from "../model/peer-authentication.js";
import type { ServicePortSpec } from "../model/service-entry.js";
import type { MeshSnapshot, Service, ServiceEndpoint } from "../model/snapshot.js";
import { spiffeId } from "../security/identity.js";
import { decideCallUnder, type CallDecision, type CallParty } from "./call-graph.js";
import { callTransport, type CallTransport, type TransportVerdict } from "./call-transport.js";

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
  /** `host:port`: the (first) service port the called workload serves, which the call goes to. */
  readonly via: string;
  /** mTLS, plaintext or refused (see call-transport.ts), with what each side does. */
  readonly transport: CallTransport;
  readonly client: string;
  /** The called workload's PeerAuthentication mode on that port. */
  readonly mtls: EffectiveMtlsMode;
  readonly decision: CallDecision;
  /** The policies that decided it, or why the connection is refused. */
  readonly by: readonly string[];
}

export interface MeshView {
  readonly generation: number;
  readonly trustDomain: string;
  readonly rootNamespace: string;
  readonly services: readonly ServiceView[];
  readonly workloads: readonly WorkloadView[];
  /** Every ordered pair of workloads whose callee serves a service (the first CALL_GRAPH_MAX_WORKLOADS). */
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
  /** Where a call to a workload goes: the first service port it serves, and its endpoint there. */
  const targetOf = new Map<string, { service: Service; port: ServicePortSpec; endpoint: ServiceEndpoint }>();
  const services: ServiceView[] = snapshot.services.map((s) => {
    const behind = new Set<string>();
    for (const e of s.endpoints) {
      const ref = e.workload ?? `${s.source} endpoint ${e.address}`;
      behind.add(ref);
      const port = s.ports[0];
      if (port !== undefined && !targetOf.has(ref)) targetOf.set(ref, { service: s, port, endpoint: e });
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
  const views: WorkloadView[] = workloads.map((w) => {
    const pa = peerAuthenticationFor(snapshot, w);
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
  const parties = new Map(graphed.map((w) => [w.ref, { party: party(w), id: spiffeId(w.identity) }]));
  const calls: CallView[] = [];
  for (const to of graphed) {
    const target = targetOf.get(to.ref);
    if (target === undefined) continue; // no service: nothing routes a call to it
    const via = `${target.service.hostname}:${target.port.number}`;
    // The transport depends on the caller's namespace only (its DestinationRule lookup).
    const byNamespace = new Map<string, TransportVerdict>();
    const applied = selectPolicies(policies, to, root);
    const callee = parties.get(to.ref)!.party;
    for (const from of graphed) {
      if (from.ref === to.ref) continue;
      let t = byNamespace.get(from.namespace);
      if (t === undefined) {
        t = callTransport(snapshot, from.namespace, target.service, target.port, target.endpoint);
        byNamespace.set(from.namespace, t);
      }
      const caller = parties.get(from.ref)!;
      const verdict = t.refusal !== undefined ? { decision: "denied" as const, by: [t.refusal] } : decideCallUnder(applied, caller.party, callee, t.transport === "mTLS");
      calls.push({ from: from.ref, to: to.ref, fromIdentity: caller.id, via, transport: t.transport, client: t.client, mtls: t.server, decision: verdict.decision, by: verdict.by });
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
