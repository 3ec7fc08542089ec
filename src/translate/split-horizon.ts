// Split-horizon EDS (Istio's EndpointsByNetworkFilter): a proxy reaches endpoints of its own
// network directly; the endpoints of another network are replaced by that network's east-west
// gateways, which share the weight of the endpoints they stand for, so load still spreads by
// endpoint count. Cross-network traffic is mTLS only (the gateway forwards by SNI without terminating TLS):
// an endpoint that would be called in plaintext is left out, as is a network with no gateway.
import type { NetworkGateway } from "../model/networks.js";
import { NETWORK_LABEL, sameNetwork } from "../model/networks.js";
import type { ServiceEndpoint } from "../model/snapshot.js";
import { TlsModeLabel } from "../model/endpoint-index.js";
import { endpointSpeaksIstioMtls } from "./mtls-upstream.js";
import type { ClientTlsSettings } from "../model/destination-rule.js";
import { digestOf } from "../model/digest.js";
import type { ProxyFlavour } from "../model/proxy.js";

/**
 * Whether calls to `e` would be Istio mTLS: the DestinationRule's TLS when set, else auto-mTLS by
 * the endpoint's tlsMode for Envoy (proxyless gRPC has no auto-mTLS: explicit ISTIO_MUTUAL only).
 */
function calledOverMtls(e: ServiceEndpoint, tls: ClientTlsSettings | undefined, flavour: ProxyFlavour): boolean {
  return tls !== undefined ? tls.mode === "ISTIO_MUTUAL" : flavour === "envoy" && endpointSpeaksIstioMtls(e);
}

/** Whether any endpoint is in a network: a flat mesh skips the split (and keeps its cache keys). */
export function hasNetworks(endpoints: readonly ServiceEndpoint[]): boolean {
  return endpoints.some((e) => e.network !== undefined && e.network !== "");
}

/** The endpoints as a proxy in `network` reaches them. */
export function splitHorizon(
  endpoints: readonly ServiceEndpoint[],
  network: string | undefined,
  gateways: ReadonlyMap<string, readonly NetworkGateway[]>,
  tls: ClientTlsSettings | undefined,
  flavour: ProxyFlavour,
): ServiceEndpoint[] {
  const out: ServiceEndpoint[] = [];
  const remote = new Map<string, ServiceEndpoint[]>();
  for (const e of endpoints) {
    if (sameNetwork(e.network, network)) {
      out.push(e);
      continue;
    }
    if (!calledOverMtls(e, tls, flavour)) continue;
    const list = remote.get(e.network!) ?? [];
    list.push(e);
    remote.set(e.network!, list);
  }
  // Each network's weight is split between its gateways; every weight is scaled by the least
  // common multiple of the gateway counts so the split stays whole (Istio's scale factor).
  const reached = [...remote.keys()].sort().filter((net) => (gateways.get(net) ?? []).length > 0);
  const scale = reached.reduce((m, net) => lcm(m, gateways.get(net)!.length), 1);
  if (scale > 1) for (let i = 0; i < out.length; i++) out[i] = { ...out[i]!, weight: out[i]!.weight * scale };
  for (const net of reached) {
    const behind = remote.get(net)!;
    const gws = gateways.get(net)!;
    const weight = (behind.reduce((n, e) => n + e.weight, 0) * scale) / gws.length;
    for (const gw of gws) {
      const targetPorts: Record<number, number> = {};
      for (const port of Object.keys(behind[0]!.targetPorts)) targetPorts[Number(port)] = gw.port;
      out.push({
        address: gw.address,
        targetPorts,
        labels: { [TlsModeLabel]: "istio", [NETWORK_LABEL]: net },
        network: net,
        weight,
        identity: behind[0]!.identity,
        tlsMode: "istio",
      });
    }
  }
  return out;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const lcm = (a: number, b: number): number => (a / gcd(a, b)) * b;

/** What a split assignment depends on besides the endpoints: the gateways (digest per snapshot's map). */
const gatewayDigests = new WeakMap<ReadonlyMap<string, readonly NetworkGateway[]>, string>();
export function gatewaysDigest(gateways: ReadonlyMap<string, readonly NetworkGateway[]>): string {
  let d = gatewayDigests.get(gateways);
  if (d === undefined) gatewayDigests.set(gateways, (d = digestOf([...gateways.entries()].sort(([x], [y]) => (x < y ? -1 : 1)))));
  return d;
}
