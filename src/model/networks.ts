// Networks of a multi-cluster mesh, read as Istio reads them: an endpoint's network is its pod's
// `topology.istio.io/network` label, else its namespace's, else its cluster's (the label on the
// control plane's namespace there), else MeshConfig `meshNetworks` (`fromCidr`, then
// `fromRegistry`: the cluster id). Endpoints in another network than the calling proxy's are
// reached through that network's east-west gateways: meshNetworks `gateways` (an address, or a
// `registryServiceName` whose external address is used) and Services labelled
// `topology.istio.io/network` (port from `networking.istio.io/gatewayPort`, default 15443).
import { BlockList, isIPv4, isIP } from "node:net";
import { parseCidr } from "./cidr.js";
import { type FieldProblems, isFields } from "./fields.js";

export const NETWORK_LABEL = "topology.istio.io/network";
export const CLUSTER_LABEL = "topology.istio.io/cluster";
export const GATEWAY_PORT_LABEL = "networking.istio.io/gatewayPort";
/** Istio's east-west gateway port (AUTO_PASSTHROUGH, mTLS with SNI-named clusters). */
export const DEFAULT_GATEWAY_PORT = 15443;

export interface NetworkGateway {
  readonly network: string;
  /** An IP address (what EDS may carry). */
  readonly address: string;
  readonly port: number;
  /** Where the gateway was declared (for /debug and errors). */
  readonly source: string;
}

export interface MeshNetwork {
  readonly name: string;
  readonly fromRegistry: readonly string[];
  /** Every `fromCidr` range, for address lookups. */
  readonly fromCidr: BlockList;
  readonly gateways: readonly ({ readonly address: string; readonly port: number } | { readonly registryServiceName: string; readonly port: number })[];
}

/** MeshConfig `meshNetworks` (Istio's MeshNetworks: `networks: {<name>: {endpoints, gateways}}`). */
export function parseMeshNetworks(doc: unknown, p: FieldProblems, at = "meshNetworks"): MeshNetwork[] {
  if (doc === undefined || doc === null) return [];
  const networks = isFields(doc) ? doc["networks"] : undefined;
  if (!isFields(doc) || (networks !== undefined && !isFields(networks))) {
    p.error(at, "must be a map with `networks: {<name>: {endpoints: [...], gateways: [...]}}`");
    return [];
  }
  const out: MeshNetwork[] = [];
  for (const [name, v] of Object.entries(networks ?? {})) {
    const path = `${at}.networks.${name}`;
    if (!isFields(v)) {
      p.error(path, "must be a map with endpoints and gateways");
      continue;
    }
    const fromRegistry: string[] = [];
    const fromCidr = new BlockList();
    const endpoints = Array.isArray(v["endpoints"]) ? v["endpoints"] : [];
    endpoints.forEach((e: unknown, i: number) => {
      const ep = isFields(e) ? e : {};
      if (typeof ep["fromRegistry"] === "string") fromRegistry.push(ep["fromRegistry"]);
      else if (typeof ep["fromCidr"] === "string") {
        const c = parseCidr(ep["fromCidr"]);
        if ("error" in c) p.error(`${path}.endpoints[${i}].fromCidr`, c.error);
        else fromCidr.addSubnet(c.addressPrefix, c.prefixLen, isIPv4(c.addressPrefix) ? "ipv4" : "ipv6");
      } else p.error(`${path}.endpoints[${i}]`, "must have fromRegistry (a cluster id) or fromCidr");
    });
    const gateways: MeshNetwork["gateways"][number][] = [];
    const gws = Array.isArray(v["gateways"]) ? v["gateways"] : [];
    gws.forEach((g: unknown, i: number) => {
      const gw = isFields(g) ? g : {};
      const port = gw["port"];
      if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
        p.error(`${path}.gateways[${i}].port`, `must be a port number (1-65535), got ${JSON.stringify(port)}`);
        return;
      }
      if (typeof gw["address"] === "string") gateways.push({ address: gw["address"], port });
      else if (typeof gw["registryServiceName"] === "string") gateways.push({ registryServiceName: gw["registryServiceName"], port });
      else p.error(`${path}.gateways[${i}]`, "must have address or registryServiceName");
    });
    out.push({ name, fromRegistry, fromCidr, gateways });
  }
  return out;
}

/** meshNetworks' answer for an address in a cluster: `fromCidr` first, then `fromRegistry`. */
export function meshNetworkOf(networks: readonly MeshNetwork[], cluster: string, address: string | undefined): string | undefined {
  const family = address !== undefined ? isIP(address) : 0;
  if (family !== 0) for (const n of networks) if (n.fromCidr.check(address!, family === 4 ? "ipv4" : "ipv6")) return n.name;
  for (const n of networks) if (n.fromRegistry.includes(cluster)) return n.name;
  return undefined;
}

/** Two networks are one when equal or when either is unset (a flat mesh has no networks). */
export function sameNetwork(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || a === "" || b === undefined || b === "" || a === b;
}
