// security.istio.io PeerAuthentication: which mTLS mode a workload's inbound side runs. Read and
// validated here (istiod's ValidatePeerAuthentication plus the CRD's schema), composed per workload
// the way istiod's ComposePeerAuthentication does. The objects stay in the snapshot's `others`
// bag; translators ask `peerAuthenticationFor`.
import type { ConfigObject } from "./config.js";
import { FieldProblems, type Fields, enumField, isFields, mapField, stringMapField, unknownKeys } from "./fields.js";
import type { KindHandler } from "./kinds.js";
import type { MeshSnapshot } from "./snapshot.js";
import { labelsMatch } from "./lookup.js";

export const PEER_AUTHENTICATION_KIND = "PeerAuthentication";
export const peerAuthenticationApiVersions = ["security.istio.io/v1", "security.istio.io/v1beta1"] as const;

export const mtlsModes = ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"] as const;
export type MtlsMode = (typeof mtlsModes)[number];
/** A resolved mode: UNSET never survives composition. */
export type EffectiveMtlsMode = Exclude<MtlsMode, "UNSET">;

export interface PeerAuthenticationSpec {
  /** Empty = no selector (mesh or namespace level). */
  readonly selector: Readonly<Record<string, string>>;
  readonly mode: MtlsMode;
  /** Target (container) port -> mode; only honoured on workload-level policies. */
  readonly portLevelMtls?: Readonly<Record<number, MtlsMode>>;
}

function parseMode(v: Fields, at: string, p: FieldProblems): MtlsMode {
  unknownKeys(v, ["mode"], at, p);
  return enumField(v, "mode", at, p, mtlsModes) ?? "UNSET";
}

/** Reads and validates a spec; errors carry the field path and istiod's wording. */
export function parsePeerAuthentication(spec: unknown, p: FieldProblems): PeerAuthenticationSpec | undefined {
  if (spec === undefined || spec === null) spec = {};
  if (!isFields(spec)) {
    p.error("spec", "must be a map");
    return undefined;
  }
  unknownKeys(spec, ["selector", "mtls", "portLevelMtls"], "spec", p);
  const sel = mapField(spec, "selector", "spec", p);
  let selector: Record<string, string> = {};
  if (sel !== undefined) {
    unknownKeys(sel, ["matchLabels"], "spec.selector", p);
    selector = stringMapField(sel, "matchLabels", "spec.selector", p);
    for (const [k, v] of Object.entries(selector)) {
      const at = `spec.selector.matchLabels[${k}]`;
      if (k === "") p.error(at, `empty key is not supported in selector: "${k}=${v}"`);
      if (k.includes("*") || v.includes("*")) p.error(at, `wildcard is not supported in selector: "${k}=${v}"`);
    }
  }
  const mtls = mapField(spec, "mtls", "spec", p);
  const mode = mtls ? parseMode(mtls, "spec.mtls", p) : "UNSET";
  let portLevelMtls: Record<number, MtlsMode> | undefined;
  const raw = spec["portLevelMtls"];
  if (raw !== undefined && raw !== null) {
    const at = "spec.portLevelMtls";
    if (!isFields(raw)) {
      p.error(at, "must be a map of port number to mTLS settings");
    } else {
      portLevelMtls = {};
      if (Object.keys(selector).length === 0) p.error(at, "mesh/namespace peer authentication cannot have port level mTLS");
      if (Object.keys(raw).length === 0) p.error(at, "port level mTLS, if defined, must have at least one element");
      for (const [key, value] of Object.entries(raw)) {
        const pat = `${at}[${key}]`;
        const port = /^\d+$/.test(key) ? Number(key) : NaN;
        if (port === 0) p.error(pat, "port cannot be 0");
        else if (!Number.isInteger(port) || port > 65535) p.error(pat, `"${key}" is not a port number (1-65535)`);
        if (!isFields(value)) {
          p.error(pat, "must be a map with mode");
          continue;
        }
        if (port > 0 && port <= 65535) portLevelMtls[port] = parseMode(value, pat, p);
      }
    }
  }
  if (p.hasErrors) return undefined;
  return { selector, mode, ...(portLevelMtls !== undefined ? { portLevelMtls } : {}) };
}

export const peerAuthenticationKind: KindHandler = {
  apiVersions: peerAuthenticationApiVersions,
  parse: (spec, p) => parsePeerAuthentication(spec, p),
};

/** A PeerAuthentication as composition needs it. */
export interface PeerAuthentication {
  readonly namespace: string;
  readonly name: string;
  readonly creationTimestamp?: string;
  readonly spec: PeerAuthenticationSpec;
}

export function peerAuthenticationsOf(snapshot: MeshSnapshot): PeerAuthentication[] {
  return (snapshot.others.get(PEER_AUTHENTICATION_KIND) ?? []).map(({ object, spec }) => toPolicy(object, spec as PeerAuthenticationSpec));
}

function toPolicy(object: ConfigObject, spec: PeerAuthenticationSpec): PeerAuthentication {
  const m = object.metadata;
  return { namespace: m.namespace, name: m.name, ...(m.creationTimestamp !== undefined ? { creationTimestamp: m.creationTimestamp } : {}), spec };
}

/**
 * Istio's tie-break within a level: the oldest creation time wins, then namespace/name. An object
 * without a timestamp (a hand-written file) counts as the oldest possible.
 */
function older(a: PeerAuthentication, b: PeerAuthentication): boolean {
  const ta = a.creationTimestamp ? Date.parse(a.creationTimestamp) : 0;
  const tb = b.creationTimestamp ? Date.parse(b.creationTimestamp) : 0;
  if (ta !== tb) return ta < tb;
  return `${a.namespace}/${a.name}` < `${b.namespace}/${b.name}`;
}

/** The composed policy of one workload: its mode and per-target-port modes. */
export interface EffectivePeerAuthentication {
  readonly mode: EffectiveMtlsMode;
  readonly portLevel: ReadonlyMap<number, EffectiveMtlsMode>;
}

export interface WorkloadRef {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * ComposePeerAuthentication: PERMISSIVE by default; mesh (root namespace, no selector), then
 * namespace (no selector), then workload (selector, not in the root namespace) override in turn
 * unless UNSET; the workload policy's port-level modes apply, UNSET ports inheriting.
 */
export function composePeerAuthentication(
  policies: readonly PeerAuthentication[],
  rootNamespace: string,
  workload: WorkloadRef,
): EffectivePeerAuthentication {
  let mesh: PeerAuthentication | undefined;
  let namespace: PeerAuthentication | undefined;
  let selected: PeerAuthentication | undefined;
  for (const pa of policies) {
    const hasSelector = Object.keys(pa.spec.selector).length > 0;
    if (!hasSelector) {
      if (pa.namespace === rootNamespace) {
        if (mesh === undefined || older(pa, mesh)) mesh = pa;
      } else if (pa.namespace === workload.namespace) {
        if (namespace === undefined || older(pa, namespace)) namespace = pa;
      }
    } else if (pa.namespace !== rootNamespace && pa.namespace === workload.namespace && labelsMatch(pa.spec.selector, workload.labels)) {
      if (selected === undefined || older(pa, selected)) selected = pa;
    }
  }
  let mode: EffectiveMtlsMode = "PERMISSIVE";
  for (const level of [mesh, namespace, selected]) if (level !== undefined && level.spec.mode !== "UNSET") mode = level.spec.mode;
  const portLevel = new Map<number, EffectiveMtlsMode>();
  for (const [port, m] of Object.entries(selected?.spec.portLevelMtls ?? {})) portLevel.set(Number(port), m === "UNSET" ? mode : m);
  return { mode, portLevel };
}

/** The mode on one target port (0 = the workload-wide mode). */
export function modeForPort(pa: EffectivePeerAuthentication, targetPort: number): EffectiveMtlsMode {
  return pa.portLevel.get(targetPort) ?? pa.mode;
}

const composed = new WeakMap<MeshSnapshot, Map<string, EffectivePeerAuthentication>>();

/** The composed PeerAuthentication for a workload in a snapshot (memoised per snapshot and workload). */
export function peerAuthenticationFor(snapshot: MeshSnapshot, workload: WorkloadRef): EffectivePeerAuthentication {
  let bySnapshot = composed.get(snapshot);
  if (bySnapshot === undefined) {
    bySnapshot = new Map();
    composed.set(snapshot, bySnapshot);
  }
  const key = `${workload.namespace}|${Object.keys(workload.labels).sort().map((k) => `${k}=${workload.labels[k]}`).join(",")}`;
  let out = bySnapshot.get(key);
  if (out === undefined) {
    out = composePeerAuthentication(peerAuthenticationsOf(snapshot), snapshot.mesh.rootNamespace, workload);
    bySnapshot.set(key, out);
  }
  return out;
}

/**
 * What a client can infer of a destination namespace (istiod's GetNamespaceMutualTLSMode, used by
 * auto-mTLS): the namespace-level mode, else the mesh-level one; undefined when neither sets one.
 */
export function namespaceMtlsMode(snapshot: MeshSnapshot, namespace: string): EffectiveMtlsMode | undefined {
  const policies = peerAuthenticationsOf(snapshot).filter((pa) => Object.keys(pa.spec.selector).length === 0);
  const oldestIn = (ns: string): PeerAuthentication | undefined =>
    policies.filter((pa) => pa.namespace === ns).reduce<PeerAuthentication | undefined>((best, pa) => (best === undefined || older(pa, best) ? pa : best), undefined);
  for (const pa of [oldestIn(namespace), oldestIn(snapshot.mesh.rootNamespace)]) {
    if (pa !== undefined && pa.spec.mode !== "UNSET") return pa.spec.mode;
  }
  return undefined;
}
