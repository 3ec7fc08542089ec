// Kubernetes Gateway API objects (gateway.networking.k8s.io/v1: GatewayClass, Gateway, HTTPRoute,
// GRPCRoute, ReferenceGrant) as the conversion reads them. The apiserver's CRD schema has
// validated them already, so reading is lenient (files are not): a field of the wrong shape is
// reported with its path and the object is left out, as the model does with any other kind.
import type { ConfigObject } from "../model/config.js";
import { type FieldProblems, type Fields, isFields } from "../model/fields.js";

export const GATEWAY_API_GROUP = "gateway.networking.k8s.io";
export const GATEWAY_API_VERSIONS = [`${GATEWAY_API_GROUP}/v1`, `${GATEWAY_API_GROUP}/v1beta1`];
/** The controller istiod registers for its GatewayClasses; the class `istio` is always its own. */
export const ISTIO_CONTROLLER = "istio.io/gateway-controller";
export const ISTIO_GATEWAY_CLASS = "istio";

export const GATEWAY_API_KINDS = ["GatewayClass", "Gateway", "HTTPRoute", "GRPCRoute", "ReferenceGrant"] as const;
export type GatewayApiKind = (typeof GATEWAY_API_KINDS)[number];

export function isGatewayApiObject(o: Pick<ConfigObject, "apiVersion" | "kind">): boolean {
  return o.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`) && (GATEWAY_API_KINDS as readonly string[]).includes(o.kind);
}

/** Reads one field path of an untyped object, reporting a wrong shape. */
export class Reader {
  constructor(
    private readonly p: FieldProblems,
  ) {}

  map(v: unknown, at: string): Fields | undefined {
    if (v === undefined || v === null) return undefined;
    if (isFields(v)) return v;
    this.p.error(at, "must be a map");
    return undefined;
  }

  list(v: unknown, at: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (Array.isArray(v)) return v;
    this.p.error(at, "must be a list");
    return [];
  }

  string(v: unknown, at: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "string") return v;
    this.p.error(at, "must be a string");
    return undefined;
  }

  int(v: unknown, at: string, min: number, max: number): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max) return v;
    this.p.error(at, `must be an integer from ${min} to ${max}`);
    return undefined;
  }
}

export interface Listener {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  readonly hostname?: string;
  /** allowedRoutes.namespaces.from: Same (default), All, Selector. */
  readonly from: "Same" | "All" | "Selector";
  readonly selectorLabels?: Readonly<Record<string, string>>;
  /** allowedRoutes.kinds, as `group/Kind`; empty = the protocol's default kinds. */
  readonly kinds: readonly string[];
  readonly tlsMode?: "Terminate" | "Passthrough";
  readonly certificateRefs: readonly { readonly name: string; readonly namespace?: string; readonly kind: string; readonly group: string }[];
}

export interface GatewaySpec {
  readonly gatewayClassName: string;
  readonly listeners: readonly Listener[];
  /** spec.addresses of type Hostname (the Service fronting the gateway when not deployed by meshward). */
  readonly hostnameAddress?: string;
}

export function readGateway(spec: unknown, p: FieldProblems): GatewaySpec | undefined {
  const r = new Reader(p);
  const s = r.map(spec, "spec") ?? {};
  const gatewayClassName = r.string(s["gatewayClassName"], "spec.gatewayClassName") ?? "";
  if (gatewayClassName === "") p.error("spec.gatewayClassName", "is required");
  const listeners: Listener[] = [];
  r.list(s["listeners"], "spec.listeners").forEach((raw, i) => {
    const at = `spec.listeners[${i}]`;
    const l = r.map(raw, at) ?? {};
    const name = r.string(l["name"], `${at}.name`) ?? "";
    const port = r.int(l["port"], `${at}.port`, 1, 65535);
    const protocol = r.string(l["protocol"], `${at}.protocol`) ?? "";
    if (name === "" || port === undefined || protocol === "") {
      p.error(at, "a listener needs name, port and protocol");
      return;
    }
    const hostname = r.string(l["hostname"], `${at}.hostname`);
    const allowed = r.map(l["allowedRoutes"], `${at}.allowedRoutes`) ?? {};
    const namespaces = r.map(allowed["namespaces"], `${at}.allowedRoutes.namespaces`) ?? {};
    const fromRaw = r.string(namespaces["from"], `${at}.allowedRoutes.namespaces.from`) ?? "Same";
    const from = fromRaw === "All" || fromRaw === "Selector" ? fromRaw : "Same";
    const selector = r.map(namespaces["selector"], `${at}.allowedRoutes.namespaces.selector`);
    const matchLabels = r.map(selector?.["matchLabels"], `${at}.allowedRoutes.namespaces.selector.matchLabels`);
    const kinds = r.list(allowed["kinds"], `${at}.allowedRoutes.kinds`).flatMap((k, j) => {
      const m = r.map(k, `${at}.allowedRoutes.kinds[${j}]`);
      const kind = r.string(m?.["kind"], `${at}.allowedRoutes.kinds[${j}].kind`);
      return kind === undefined ? [] : [`${r.string(m?.["group"], `${at}.allowedRoutes.kinds[${j}].group`) ?? GATEWAY_API_GROUP}/${kind}`];
    });
    const tls = r.map(l["tls"], `${at}.tls`);
    const mode = r.string(tls?.["mode"], `${at}.tls.mode`);
    const certificateRefs = r.list(tls?.["certificateRefs"], `${at}.tls.certificateRefs`).flatMap((c, j) => {
      const m = r.map(c, `${at}.tls.certificateRefs[${j}]`) ?? {};
      const refName = r.string(m["name"], `${at}.tls.certificateRefs[${j}].name`);
      if (refName === undefined) return [];
      const ns = r.string(m["namespace"], `${at}.tls.certificateRefs[${j}].namespace`);
      return [{ name: refName, kind: r.string(m["kind"], `${at}.tls.certificateRefs[${j}].kind`) ?? "Secret", group: r.string(m["group"], `${at}.tls.certificateRefs[${j}].group`) ?? "", ...(ns !== undefined ? { namespace: ns } : {}) }];
    });
    listeners.push({
      name,
      port,
      protocol,
      ...(hostname !== undefined ? { hostname } : {}),
      from,
      ...(matchLabels !== undefined ? { selectorLabels: Object.fromEntries(Object.entries(matchLabels).map(([k, v]) => [k, String(v)])) } : {}),
      kinds,
      ...(tls !== undefined ? { tlsMode: mode === "Passthrough" ? "Passthrough" : "Terminate" } : {}),
      certificateRefs,
    });
  });
  const hostnameAddress = r.list(s["addresses"], "spec.addresses").flatMap((a) => {
    const m = isFields(a) ? a : {};
    return m["type"] === "Hostname" && typeof m["value"] === "string" ? [m["value"]] : [];
  })[0];
  if (p.hasErrors) return undefined;
  return { gatewayClassName, listeners, ...(hostnameAddress !== undefined ? { hostnameAddress } : {}) };
}

/** A reference to another object from a route (parentRefs, backendRefs) or a Gateway (certificateRefs). */
export interface ObjectRef {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly sectionName?: string;
  readonly port?: number;
  readonly weight?: number;
}

export function readRef(v: unknown, at: string, r: Reader, defaults: { group: string; kind: string }): ObjectRef | undefined {
  const m = r.map(v, at);
  if (m === undefined) return undefined;
  const name = r.string(m["name"], `${at}.name`);
  if (name === undefined) return undefined;
  const namespace = r.string(m["namespace"], `${at}.namespace`);
  const sectionName = r.string(m["sectionName"], `${at}.sectionName`);
  const port = r.int(m["port"], `${at}.port`, 1, 65535);
  const weight = r.int(m["weight"], `${at}.weight`, 0, 1_000_000);
  return {
    group: r.string(m["group"], `${at}.group`) ?? defaults.group,
    kind: r.string(m["kind"], `${at}.kind`) ?? defaults.kind,
    name,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(sectionName !== undefined ? { sectionName } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(weight !== undefined ? { weight } : {}),
  };
}

export interface ReferenceGrantSpec {
  readonly from: readonly { readonly group: string; readonly kind: string; readonly namespace: string }[];
  readonly to: readonly { readonly group: string; readonly kind: string; readonly name?: string }[];
}

export function readReferenceGrant(spec: unknown, p: FieldProblems): ReferenceGrantSpec | undefined {
  const r = new Reader(p);
  const s = r.map(spec, "spec") ?? {};
  const from = r.list(s["from"], "spec.from").flatMap((f, i) => {
    const m = r.map(f, `spec.from[${i}]`) ?? {};
    const kind = r.string(m["kind"], `spec.from[${i}].kind`);
    const namespace = r.string(m["namespace"], `spec.from[${i}].namespace`);
    return kind === undefined || namespace === undefined ? [] : [{ group: r.string(m["group"], `spec.from[${i}].group`) ?? "", kind, namespace }];
  });
  const to = r.list(s["to"], "spec.to").flatMap((t, i) => {
    const m = r.map(t, `spec.to[${i}]`) ?? {};
    const kind = r.string(m["kind"], `spec.to[${i}].kind`);
    const name = r.string(m["name"], `spec.to[${i}].name`);
    return kind === undefined ? [] : [{ group: r.string(m["group"], `spec.to[${i}].group`) ?? "", kind, ...(name !== undefined ? { name } : {}) }];
  });
  return p.hasErrors ? undefined : { from, to };
}

/** Whether a ReferenceGrant in `toNamespace` lets a `fromKind` of `fromNamespace` refer to `toKind` `toName` there. */
export function referenceAllowed(
  grants: readonly { readonly namespace: string; readonly spec: ReferenceGrantSpec }[],
  from: { readonly group: string; readonly kind: string; readonly namespace: string },
  to: { readonly group: string; readonly kind: string; readonly name: string; readonly namespace: string },
): boolean {
  if (from.namespace === to.namespace) return true;
  return grants.some(
    (g) =>
      g.namespace === to.namespace &&
      g.spec.from.some((f) => f.group === from.group && f.kind === from.kind && f.namespace === from.namespace) &&
      g.spec.to.some((t) => t.group === to.group && t.kind === to.kind && (t.name === undefined || t.name === to.name)),
  );
}
