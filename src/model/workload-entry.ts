// networking.istio.io WorkloadEntry: one non-Kubernetes workload (a VM, a process on this host)
// that ServiceEntries select by labels. ServiceEntry inline endpoints have the same shape.
import { FieldProblems, unknownKeys, intField, isFields, isIpAddress, mapField, portField, requiredString, stringField, stringMapField } from "./fields.js";

export const hostPattern = /^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?$/;

export interface WorkloadEntrySpec {
  readonly address: string;
  /** Port name -> port on this workload. */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly network?: string;
  /** `region/zone/subzone`. */
  readonly locality?: string;
  readonly weight?: number;
  readonly serviceAccount?: string;
}

/** Reads a workload (WorkloadEntry spec or ServiceEntry endpoint). */
export function parseWorkload(v: unknown, at: string, p: FieldProblems, addressRequired: boolean): WorkloadEntrySpec | undefined {
  if (!isFields(v)) {
    p.error(at, "must be a map");
    return undefined;
  }
  const address = addressRequired ? requiredString(v, "address", at, p) : stringField(v, "address", at, p);
  if (address !== undefined && address.startsWith("unix://")) p.error(`${at}.address`, "unix domain socket endpoints are not supported");
  const portsMap = mapField(v, "ports", at, p) ?? {};
  const ports: Record<string, number> = {};
  for (const k of Object.keys(portsMap)) {
    const n = portField(portsMap, k, `${at}.ports`, p);
    if (n !== undefined) ports[k] = n;
  }
  const labels = stringMapField(v, "labels", at, p);
  const network = stringField(v, "network", at, p);
  const locality = stringField(v, "locality", at, p);
  if (locality !== undefined && locality.split("/").length > 3) {
    p.error(`${at}.locality`, `"${locality}" must be region[/zone[/subzone]]`);
  }
  // Istio: weight 0 means "unset" (1); the upper bound is that of Envoy's uint32 weights.
  const weight = intField(v, "weight", at, p, 0, 4294967295);
  const serviceAccount = stringField(v, "serviceAccount", at, p);
  unknownKeys(v, ["address", "ports", "labels", "network", "locality", "weight", "serviceAccount"], at, p);
  return {
    address: address ?? "",
    ports,
    labels,
    ...(network !== undefined ? { network } : {}),
    ...(locality !== undefined ? { locality } : {}),
    ...(weight !== undefined && weight > 0 ? { weight } : {}),
    ...(serviceAccount !== undefined ? { serviceAccount } : {}),
  };
}

export function parseWorkloadEntry(spec: unknown, p: FieldProblems): WorkloadEntrySpec | undefined {
  if (!isFields(spec)) {
    p.error("spec", "is required and must be a map");
    return undefined;
  }
  const w = parseWorkload(spec, "spec", p, true);
  if (w !== undefined && w.address !== "" && !isIpAddress(w.address) && !hostPattern.test(w.address)) {
    p.error("spec.address", `"${w.address}" is neither an IP address nor a host name`);
  }
  return p.hasErrors ? undefined : w;
}
