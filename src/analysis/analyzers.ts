// Cross-object analyzers over one mesh snapshot (istioctl analyze's shape: each looks at the whole
// config and reports findings about single objects). They read the same model `meshward serve`
// builds, so a finding is about the config meshward would actually serve.
import type { MeshSnapshot } from "../model/snapshot.js";
import type { ConfigError } from "../model/config.js";
import { labelsMatch, destinationRuleFor } from "../model/lookup.js";
import { effectiveTrafficPolicy } from "../model/destination-rule.js";
import { modeForPort, peerAuthenticationFor, peerAuthenticationsOf, PEER_AUTHENTICATION_KIND } from "../model/peer-authentication.js";
import { snapshotPolicies } from "../authz/mesh-input.js";
import { selectPolicies } from "../authz/select.js";
import { readExtensionProviders } from "../authz/mesh-config.js";
import { DRY_RUN_ANNOTATION, type AuthorizationPolicy, type Rule } from "../authz/policy.js";
import type { WorkloadIdentity } from "../security/identity.js";
import { FINDINGS, type Finding } from "./findings.js";
import { gatewaysOf } from "../gateway/gateway-kind.js";
import { gatewaysFor, mergeGateways } from "../gateway/merge.js";

/** A workload as the analyzers see it: a WorkloadEntry or a ServiceEntry's inline endpoint. */
export interface AnalyzedWorkload {
  readonly ref: string;
  /** The object that declares it (the ServiceEntry for an inline endpoint), for its file. */
  readonly declaredBy: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Its address (the WorkloadEntry's, or the endpoint's). */
  readonly address: string;
  readonly identity: WorkloadIdentity;
}

function originOf(snapshot: MeshSnapshot, ref: string): string {
  return snapshot.accepted.get(ref)?.object.origin.file ?? "";
}

export function workloadsOf(snapshot: MeshSnapshot): AnalyzedWorkload[] {
  const out = new Map<string, AnalyzedWorkload>();
  for (const w of snapshot.workloads) out.set(w.ref, { ref: w.ref, declaredBy: w.ref, namespace: w.namespace, labels: w.spec.labels, address: w.spec.address, identity: w.identity });
  for (const s of snapshot.services) {
    for (const e of s.endpoints) {
      if (e.workload !== undefined) continue; // a WorkloadEntry, listed above
      const ref = `${s.source} endpoint ${e.address}`;
      if (!out.has(ref)) out.set(ref, { ref, declaredBy: s.source, namespace: s.namespace, labels: e.labels, address: e.address, identity: e.identity });
    }
  }
  return [...out.values()];
}

/** IST0106 / IST0133: what admission rejected or warned about, as analyze reports it. */
export function admissionFindings(errors: readonly ConfigError[]): Finding[] {
  return errors
    .filter((e) => !(e.path === "" && /^object rejected/.test(e.message)))
    .map((e) => ({
      type: e.severity === "error" ? FINDINGS.schemaValidationError : FINDINGS.schemaValidationWarning,
      object: e.object ?? "(file)",
      origin: e.file,
      message: `${e.path !== "" ? `${e.path}: ` : ""}${e.message}`,
    }));
}

/** IST0127: a policy whose selector matches no workload of its namespace (any namespace for the root namespace). */
export function noMatchingWorkloads(snapshot: MeshSnapshot, workloads: readonly AnalyzedWorkload[]): Finding[] {
  const out: Finding[] = [];
  const root = snapshot.mesh.rootNamespace;
  const check = (ref: string, namespace: string, selector: Readonly<Record<string, string>>): void => {
    if (Object.keys(selector).length === 0) return;
    const matches = workloads.some((w) => (namespace === root || w.namespace === namespace) && labelsMatch(selector, w.labels));
    if (matches) return;
    const labels = Object.entries(selector).map(([k, v]) => `${k}=${v}`).sort().join(",");
    out.push({ type: FINDINGS.noMatchingWorkloadsFound, object: ref, origin: originOf(snapshot, ref), message: `No matching workloads for this resource with the following labels: ${labels}` });
  };
  for (const p of snapshotPolicies(snapshot)) check(`AuthorizationPolicy ${p.namespace}/${p.name}`, p.namespace, p.spec.selector?.matchLabels ?? {});
  for (const pa of peerAuthenticationsOf(snapshot)) check(`${PEER_AUTHENTICATION_KIND} ${pa.namespace}/${pa.name}`, pa.namespace, pa.spec.selector);
  return out;
}

/**
 * IST0113: a DestinationRule's TLS mode that the destination's PeerAuthentication refuses: DISABLE
 * (plaintext) towards workloads in STRICT mTLS, or ISTIO_MUTUAL towards workloads with mTLS DISABLE.
 */
export function mtlsConflicts(snapshot: MeshSnapshot): Finding[] {
  const out = new Map<string, Finding>();
  const namespaces = new Set(snapshot.destinationRules.map((dr) => dr.namespace));
  for (const service of snapshot.services) {
    for (const ns of new Set([service.namespace, ...namespaces])) {
      const dr = destinationRuleFor(snapshot, ns, service);
      if (dr === undefined) continue;
      for (const port of service.ports) {
        const tls = effectiveTrafficPolicy(dr.spec, port.number).tls?.mode;
        if (tls !== "DISABLE" && tls !== "ISTIO_MUTUAL") continue;
        for (const e of service.endpoints) {
          const mode = modeForPort(peerAuthenticationFor(snapshot, { namespace: service.namespace, labels: e.labels }), e.targetPorts[port.number] ?? port.number);
          const conflict = (tls === "DISABLE" && mode === "STRICT") || (tls === "ISTIO_MUTUAL" && mode === "DISABLE");
          const key = `${dr.ref}|${service.hostname}|${port.number}`;
          if (!conflict || out.has(key)) continue;
          const what = tls === "DISABLE" ? "sends plaintext" : "sends Istio mTLS";
          const server = e.workload ?? `endpoint ${e.address}`;
          out.set(key, {
            type: FINDINGS.mtlsPolicyConflict,
            object: dr.ref,
            origin: originOf(snapshot, dr.ref),
            message: `TLS mode ${tls} ${what} to ${service.hostname}:${port.number}, but PeerAuthentication puts ${server} in mTLS mode ${mode}: these calls fail`,
          });
        }
      }
    }
  }
  return [...out.values()];
}

/** IST0177: ServiceEntries declaring the same host and port with different protocols. */
export function serviceEntryProtocolConflicts(snapshot: MeshSnapshot): Finding[] {
  const byHostPort = new Map<string, Map<string, Set<string>>>();
  for (const s of snapshot.services) {
    for (const p of s.ports) {
      const key = `${s.hostname}|${p.number}`;
      const bySource = byHostPort.get(key) ?? new Map<string, Set<string>>();
      const protocols = bySource.get(s.source) ?? new Set<string>();
      protocols.add(p.protocol);
      bySource.set(s.source, protocols);
      byHostPort.set(key, bySource);
    }
  }
  const out: Finding[] = [];
  for (const [key, bySource] of byHostPort) {
    const protocols = new Set([...bySource.values()].flatMap((x) => [...x]));
    if (bySource.size < 2 || protocols.size < 2) continue;
    const [host, port] = key.split("|");
    const sources = [...bySource.keys()].sort();
    for (const source of sources) {
      out.push({
        type: FINDINGS.conflictingServiceEntryProtocols,
        object: source,
        origin: originOf(snapshot, source),
        message: `Multiple ServiceEntries (${sources.join(", ")}) define the same host "${host}" and port ${port} with conflicting protocols (${[...protocols].sort().join(", ")})`,
      });
    }
  }
  return out;
}

/** Whether a DestinationRule host (exact, `*.suffix` or `*`) covers a service hostname. */
function drHostCovers(drHost: string, hostname: string): boolean {
  return drHost === "*" || drHost === hostname || (drHost.startsWith("*.") && hostname.endsWith(drHost.slice(1)));
}

/**
 * IST0174: a DestinationRule whose host no service has. meshward matches hosts as written (a short
 * name such as `reviews` is not expanded to `reviews.<namespace>.svc.cluster.local`), so this also
 * catches a rule istiod would apply and meshward does not.
 */
export function unknownDestinationRuleHosts(snapshot: MeshSnapshot): Finding[] {
  return snapshot.destinationRules
    .filter((dr) => !snapshot.services.some((s) => drHostCovers(dr.spec.host, s.hostname)))
    .map((dr) => ({
      type: FINDINGS.destinationRuleHostNotFound,
      object: dr.ref,
      origin: originOf(snapshot, dr.ref),
      message: `The host ${dr.spec.host} defined in the DestinationRule does not match any services in the mesh${dr.spec.host.includes(".") ? "" : " (write the full name, e.g. <name>.<namespace>.svc.cluster.local)"}`,
    }));
}

/**
 * IST0145: servers that gateway workloads could not run because another Gateway selecting the same
 * workloads already holds their port or TLS host; found by merging each selector's Gateways as a
 * gateway proxy does (gateway/merge.ts), so the finding is exactly the server it would leave out.
 */
export function conflictingGateways(snapshot: MeshSnapshot): Finding[] {
  const all = gatewaysOf(snapshot);
  const selectors = new Map<string, Readonly<Record<string, string>>>();
  for (const g of all) if (g.spec.selector !== undefined) selectors.set(JSON.stringify(Object.entries(g.spec.selector).sort()), g.spec.selector);
  const out = new Map<string, Finding>();
  for (const selector of selectors.values()) {
    // Every namespace's Gateways may meet on one workload (scoped to namespaces, fewer would).
    const merged = mergeGateways(gatewaysFor(snapshot, { type: "router", labels: selector, namespace: "" }, false));
    for (const r of merged.rejected) {
      const ref = `Gateway ${r.gatewayRef}`;
      out.set(`${ref}|${r.index}`, { type: FINDINGS.conflictingGateways, object: ref, origin: originOf(snapshot, ref), message: `spec.servers[${r.index}] is left out on workloads labelled ${Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(",")}: ${r.why}` });
    }
  }
  return [...out.values()];
}

/** IST0101: a CUSTOM AuthorizationPolicy naming an extension provider MeshConfig does not define. */
export function unknownExtensionProviders(snapshot: MeshSnapshot): Finding[] {
  const known = new Set(readExtensionProviders(snapshot.mesh.extensionProviders).map((p) => p.name));
  return snapshotPolicies(snapshot)
    .filter((p) => p.spec.action === "CUSTOM" && p.spec.provider?.name !== undefined && !known.has(p.spec.provider.name))
    .map((p) => {
      const ref = `AuthorizationPolicy ${p.namespace}/${p.name}`;
      return { type: FINDINGS.referencedResourceNotFound, object: ref, origin: originOf(snapshot, ref), message: `Referenced extension provider not found: "${p.spec.provider?.name ?? ""}" (MeshConfig extensionProviders)` };
    });
}

const isDryRun = (p: AuthorizationPolicy): boolean => p.annotations[DRY_RUN_ANNOTATION] === "true";
const matchesEverything = (r: Rule | null): boolean => r !== null && (r.from ?? []).length === 0 && (r.to ?? []).length === 0 && (r.when ?? []).length === 0;

/**
 * MW0001: workloads no request can reach: a DENY rule with nothing in it (denies every request),
 * or ALLOW policies none of which has a rule (an ALLOW policy without rules allows nothing).
 */
export function authorizationDeniesAll(snapshot: MeshSnapshot, workloads: readonly AnalyzedWorkload[]): Finding[] {
  const policies = snapshotPolicies(snapshot);
  const out: Finding[] = [];
  for (const w of workloads) {
    const applied = selectPolicies(policies, w, snapshot.mesh.rootNamespace);
    const denyAll = applied.deny.filter((p) => !isDryRun(p) && (p.spec.rules ?? []).some(matchesEverything));
    const allow = applied.allow.filter((p) => !isDryRun(p));
    const allowNothing = allow.length > 0 && allow.every((p) => (p.spec.rules ?? []).length === 0);
    const refs = (ps: readonly AuthorizationPolicy[]): string => ps.map((p) => `${p.namespace}/${p.name}`).join(", ");
    let message: string | undefined;
    if (denyAll.length > 0) message = `every request to it is denied: DENY AuthorizationPolicy ${refs(denyAll)} has a rule that matches everything`;
    else if (allowNothing) message = `no request to it is allowed: ALLOW AuthorizationPolicy ${refs(allow)} has no rules (allow nothing)`;
    if (message !== undefined) out.push({ type: FINDINGS.authorizationDeniesAll, object: w.ref, origin: originOf(snapshot, w.declaredBy), message });
  }
  return out;
}

/** Every offline analyzer over the snapshot (quarantines come from the data dir, see the command). */
export function analyzeSnapshot(snapshot: MeshSnapshot): Finding[] {
  const workloads = workloadsOf(snapshot);
  return [
    ...admissionFindings(snapshot.errors),
    ...noMatchingWorkloads(snapshot, workloads),
    ...mtlsConflicts(snapshot),
    ...serviceEntryProtocolConflicts(snapshot),
    ...unknownDestinationRuleHosts(snapshot),
    ...conflictingGateways(snapshot),
    ...unknownExtensionProviders(snapshot),
    ...authorizationDeniesAll(snapshot, workloads),
  ];
}

