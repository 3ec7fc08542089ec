// Localities (`region/zone/subzone`) and Istio's LocalityLoadBalancerSetting, read the same way
// from MeshConfig `localityLbSetting` and DestinationRule `trafficPolicy.loadBalancer.localityLbSetting`,
// with istiod's validation (validateLocalityLbSetting) and its matching rules (util.LbPriority,
// util.LocalityMatch), so EDS priorities and weights come out as istiod computes them.
import { FieldProblems, type Fields, boolField, isFields, join, listField, mapField, stringListField, unknownKeys } from "./fields.js";

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

export interface LocalityDistribute {
  /** The proxies' locality, `*` allowed as a whole segment. */
  readonly from: string;
  /** Destination localities with their share in percent, as written (sum 100). */
  readonly to: readonly (readonly [string, number])[];
}

export interface LocalityFailover {
  /** Regions only. */
  readonly from: string;
  readonly to: string;
}

export interface LocalityLbSetting {
  /** Absent: on (Istio's default). */
  readonly enabled?: boolean;
  readonly distribute: readonly LocalityDistribute[];
  readonly failover: readonly LocalityFailover[];
  /**
   * Labels (e.g. `topology.istio.io/cluster`), optionally `label=value`, whose values an endpoint
   * shares with the calling proxy, in order, decide its priority.
   */
  readonly failoverPriority: readonly string[];
}

/** MeshConfig's default: locality load balancing on, no rules. */
export const defaultLocalityLbSetting: LocalityLbSetting = { enabled: true, distribute: [], failover: [], failoverPriority: [] };

export const REGION_LABEL = "topology.kubernetes.io/region";
export const ZONE_LABEL = "topology.kubernetes.io/zone";
export const SUBZONE_LABEL = "topology.istio.io/subzone";
/** The Pod label that overrides its Node's locality; `.` separates the parts in a label value. */
export const POD_LOCALITY_LABEL = "istio-locality";

export function parseLocality(s: string | undefined): Locality {
  const [region = "", zone = "", subZone = ""] = (s ?? "").split("/");
  return { region, zone, subZone };
}

export function localityString(l: Locality): string {
  if (l.region === "" && l.zone === "" && l.subZone === "") return "";
  return `${l.region}/${l.zone}/${l.subZone}`;
}

/** istiod's util.LbPriority: 0 same subzone, 1 same zone, 2 same region, 3 elsewhere. */
export function lbPriority(proxy: Locality, endpoint: Locality): number {
  if (proxy.region !== endpoint.region) return 3;
  if (proxy.zone !== endpoint.zone) return 2;
  return proxy.subZone === endpoint.subZone ? 0 : 1;
}

/** istiod's util.LocalityMatch: `rule` is `region[/zone[/subzone]]`, `*` matches any value, a missing part too. */
export function localityMatch(l: Locality, rule: string): boolean {
  const r = parseLocality(rule);
  return (r.region === "*" || r.region === l.region) && (r.zone === "*" || r.zone === "" || r.zone === l.zone) && (r.subZone === "*" || r.subZone === "" || r.subZone === l.subZone);
}

/** A locality as labels (istiod's AugmentLabels): only the parts that are set. */
export function localityLabels(l: Locality): Record<string, string> {
  return {
    ...(l.region !== "" ? { [REGION_LABEL]: l.region } : {}),
    ...(l.zone !== "" ? { [ZONE_LABEL]: l.zone } : {}),
    ...(l.subZone !== "" ? { [SUBZONE_LABEL]: l.subZone } : {}),
  };
}

/** istiod's localityFromProxyLabels: the topology labels, undefined when none is set. */
export function localityFromLabels(labels: Readonly<Record<string, string>>): Locality | undefined {
  const region = labels[REGION_LABEL];
  const zone = labels[ZONE_LABEL];
  const subZone = labels[SUBZONE_LABEL];
  if (region === undefined && zone === undefined && subZone === undefined) return undefined;
  return { region: region ?? "", zone: zone ?? "", subZone: subZone ?? "" };
}

/** istiod's validateLocalities: at most three parts, `*` only as a whole last part, no empty part before it. */
function checkLocality(s: string, at: string, p: FieldProblems): void {
  const parts = s.split("/");
  if (s === "" || parts.length > 3) p.error(at, `"${s}" must be region[/zone[/subzone]]`);
  else if (parts.some((x, i) => (x === "*" && i !== parts.length - 1) || (x.includes("*") && x !== "*"))) p.error(at, `"${s}": a wildcard may only be the whole last part`);
}

const topologyLabels = [REGION_LABEL, ZONE_LABEL, SUBZONE_LABEL];

/** Reads a LocalityLoadBalancerSetting at `at` (error paths name every field). */
export function parseLocalityLbSetting(v: Fields, at: string, p: FieldProblems): LocalityLbSetting {
  unknownKeys(v, ["enabled", "distribute", "failover", "failoverPriority"], at, p);
  const enabled = boolField(v, "enabled", at, p);
  const distribute = listField(v, "distribute", at, p, (d, dat): LocalityDistribute | undefined => {
    if (!isFields(d)) {
      p.error(dat, "must be a map with from and to");
      return undefined;
    }
    const from = typeof d["from"] === "string" ? d["from"] : "";
    checkLocality(from, join(dat, "from"), p);
    const toMap = mapField(d, "to", dat, p) ?? {};
    const to: [string, number][] = [];
    let sum = 0;
    for (const [loc, w] of Object.entries(toMap)) {
      checkLocality(loc, join(join(dat, "to"), loc), p);
      if (typeof w !== "number" || !Number.isInteger(w) || w < 1 || w > 100) p.error(join(join(dat, "to"), loc), `locality weight must be an integer from 1 to 100, got ${JSON.stringify(w)}`);
      else {
        to.push([loc, w]);
        sum += w;
      }
    }
    if (sum !== 100) p.error(join(dat, "to"), `total locality weight ${sum} != 100`);
    return { from, to };
  });
  const failover = listField(v, "failover", at, p, (f, fat): LocalityFailover | undefined => {
    if (!isFields(f) || typeof f["from"] !== "string" || typeof f["to"] !== "string") {
      p.error(fat, "must be a map with the regions from and to");
      return undefined;
    }
    if (f["from"] === f["to"]) p.error(fat, `failover 'from' and 'to' can not be equal ("${f["from"]}"), they should be different regions`);
    if (f["from"].includes("/") || f["to"].includes("/")) p.error(fat, "failover is specified in regions only (no '/')");
    return { from: f["from"], to: f["to"] };
  });
  const failoverPriority = stringListField(v, "failoverPriority", at, p);
  if (distribute.length > 0 && failover.length > 0) p.error(at, "can not simultaneously specify 'distribute' and 'failover'");
  if (failover.length > 0) {
    const topo = failoverPriority.find((l) => topologyLabels.includes(l.split("=")[0] ?? ""));
    if (topo !== undefined) p.error(join(at, "failoverPriority"), `can not simultaneously set 'failover' and topology label '${topo}' in 'failoverPriority'`);
  }
  return { ...(enabled !== undefined ? { enabled } : {}), distribute, failover, failoverPriority };
}
