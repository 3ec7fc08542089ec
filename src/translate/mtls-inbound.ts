// PeerAuthentication on the inbound side: which filter chains a port gets in each mTLS mode
// (istiod's filterchain_options.go), the mode of a port, and the listener filters (TLS / HTTP
// inspectors) those chains' matches need (listener_inbound.go populateListenerFilters).
import { create } from "@bufbuild/protobuf";
import type { FilterChain, ListenerFilter } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import { ListenerFilterSchema, type ListenerFilterChainMatchPredicateSchema } from "../gen/envoy/config/listener/v3/listener_components_pb.js";
import { TlsInspectorSchema } from "../gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js";
import { HttpInspectorSchema } from "../gen/envoy/extensions/filters/listener/http_inspector/v3/http_inspector_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Proxy } from "../model/proxy.js";
import type { MeshSnapshot } from "../model/snapshot.js";
import { modeForPort, peerAuthenticationFor, type EffectiveMtlsMode } from "../model/peer-authentication.js";
import { typedConfig } from "./common.js";

export const TlsTransportProtocol = "tls";
export const RawBufferTransportProtocol = "raw_buffer";
/** listener.go L85–99. */
export const MtlsHttpAlpns = ["istio-http/1.0", "istio-http/1.1", "istio-h2"];
export const PlaintextHttpAlpns = ["http/1.1", "h2c"];
export const MtlsTcpWithMxcAlpns = ["istio-peer-exchange", "istio"];
export const AllIstioMtlsAlpns = ["istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"];

export type ListenerProtocol = "HTTP" | "TCP" | "AUTO";

/** One filter chain of a port: what it matches, what it runs, whether it terminates mTLS. */
export interface InboundChainOption {
  readonly applicationProtocols: readonly string[];
  readonly transportProtocol: typeof TlsTransportProtocol | typeof RawBufferTransportProtocol;
  readonly protocol: "HTTP" | "TCP";
  readonly tls: boolean;
}

const opt = (protocol: "HTTP" | "TCP", transportProtocol: InboundChainOption["transportProtocol"], tls: boolean, applicationProtocols: readonly string[] = []): InboundChainOption => ({
  applicationProtocols,
  transportProtocol,
  protocol,
  tls,
});

const permissiveAuto = [
  opt("HTTP", TlsTransportProtocol, true, MtlsHttpAlpns), // HTTP from a sidecar over mTLS
  opt("HTTP", RawBufferTransportProtocol, false, PlaintextHttpAlpns), // plaintext HTTP
  opt("TCP", TlsTransportProtocol, true, MtlsTcpWithMxcAlpns), // TCP from a sidecar over mTLS
  opt("TCP", RawBufferTransportProtocol, false), // plaintext TCP
  opt("TCP", TlsTransportProtocol, false), // one-way TLS from a client without a sidecar: passed through
];
const options: Record<EffectiveMtlsMode, Record<ListenerProtocol, readonly InboundChainOption[]>> = {
  PERMISSIVE: {
    AUTO: permissiveAuto,
    HTTP: [opt("HTTP", TlsTransportProtocol, true, AllIstioMtlsAlpns), opt("HTTP", RawBufferTransportProtocol, false)],
    TCP: [opt("TCP", TlsTransportProtocol, true, AllIstioMtlsAlpns), opt("TCP", RawBufferTransportProtocol, false), opt("TCP", TlsTransportProtocol, false)],
  },
  STRICT: {
    AUTO: [opt("HTTP", TlsTransportProtocol, true, MtlsHttpAlpns), opt("TCP", TlsTransportProtocol, true)],
    HTTP: [opt("HTTP", TlsTransportProtocol, true)],
    TCP: [opt("TCP", TlsTransportProtocol, true)],
  },
  DISABLE: {
    AUTO: [opt("HTTP", RawBufferTransportProtocol, false, PlaintextHttpAlpns), opt("TCP", RawBufferTransportProtocol, false)],
    HTTP: [opt("HTTP", RawBufferTransportProtocol, false)],
    TCP: [opt("TCP", RawBufferTransportProtocol, false)],
  },
};

/** getFilterChainMatchOptions (no user TLS on the port). */
export function inboundChainOptions(mode: EffectiveMtlsMode, protocol: ListenerProtocol): readonly InboundChainOption[] {
  return options[mode][protocol];
}

/** The mTLS mode of an Envoy sidecar's target port (0: the workload-wide mode, for passthrough). */
export function sidecarPortMode(snapshot: MeshSnapshot, proxy: Proxy, targetPort: number): EffectiveMtlsMode {
  return modeForPort(peerAuthenticationFor(snapshot, proxy), targetPort);
}

/** Ports with a port-level mode that no service declares: they get passthrough chains of their own (ForPassthrough). */
export function passthroughPorts(snapshot: MeshSnapshot, proxy: Proxy, servedPorts: ReadonlySet<number>): number[] {
  return [...peerAuthenticationFor(snapshot, proxy).portLevel.keys()].filter((p) => !servedPorts.has(p)).sort((a, b) => a - b);
}

/**
 * A proxyless gRPC server's mode (grpcgen buildInboundFilterChains): gRPC cannot match on transport,
 * so PERMISSIVE serves plaintext, unless the pod is labelled `security.istio.io/tlsMode=istio`
 * (its clients then use mTLS), which makes it STRICT.
 */
export function grpcServerMode(snapshot: MeshSnapshot, proxy: Proxy, targetPort: number): "STRICT" | "DISABLE" {
  let mode = modeForPort(peerAuthenticationFor(snapshot, proxy), targetPort);
  if (mode === "PERMISSIVE" && proxy.labels["security.istio.io/tlsMode"] === "istio") mode = "STRICT";
  return mode === "STRICT" ? "STRICT" : "DISABLE";
}

interface Inspectors {
  tls: boolean;
  http: boolean;
}

type Predicate = MessageInitShape<typeof ListenerFilterChainMatchPredicateSchema>;

function excludePorts(ports: readonly number[]): Predicate {
  const ranges: Predicate[] = ports.map((p) => ({ rule: { case: "destinationPortRange", value: { start: p, end: p + 1 } } }));
  return ranges.length === 1 ? ranges[0]! : { rule: { case: "orMatch", value: { rules: ranges } } };
}

function includePorts(ports: readonly number[]): Predicate {
  return { rule: { case: "notMatch", value: excludePorts(ports) } };
}

/**
 * tls_inspector where a chain matches on transport protocol `tls`, http_inspector where one
 * matches plaintext HTTP ALPNs; disabled per port by destination-port predicates, as istiod does.
 * Port 0 stands for the passthrough chains (any port).
 */
export function inboundListenerFilters(chains: readonly FilterChain[]): ListenerFilter[] {
  const byPort = new Map<number, Inspectors>();
  for (const fc of chains) {
    const m = fc.filterChainMatch;
    const port = m?.destinationPort ?? 0;
    const i = byPort.get(port) ?? { tls: false, http: false };
    i.tls ||= m?.transportProtocol === TlsTransportProtocol;
    i.http ||= (m?.applicationProtocols ?? []).some((ap) => ap === "http/1.1" || ap === "h2c");
    byPort.set(port, i);
  }
  const out: ListenerFilter[] = [];
  if ([...byPort.values()].some((i) => i.tls)) {
    // istiod reads at most 512 bytes of a ClientHello on inbound (enough for SNI and ALPN).
    const config = { case: "typedConfig" as const, value: typedConfig(TlsInspectorSchema, { initialReadBufferSize: 512 }) };
    const defaultOn = byPort.get(0)?.tls ?? false;
    const ports = [...byPort.entries()].filter(([p, i]) => p !== 0 && i.tls !== defaultOn).map(([p]) => p).sort((a, b) => a - b);
    const disabled = ports.length === 0 ? undefined : defaultOn ? excludePorts(ports) : includePorts(ports);
    out.push(create(ListenerFilterSchema, { name: "envoy.filters.listener.tls_inspector", configType: config, ...(disabled ? { filterDisabled: disabled } : {}) }));
  }
  if ([...byPort.values()].some((i) => i.http)) {
    const ports = [...byPort.entries()].filter(([, i]) => !i.http).map(([p]) => p).sort((a, b) => a - b);
    out.push(
      create(ListenerFilterSchema, {
        name: "envoy.filters.listener.http_inspector",
        configType: { case: "typedConfig", value: typedConfig(HttpInspectorSchema, {}) },
        ...(ports.length > 0 ? { filterDisabled: excludePorts(ports) } : {}),
      }),
    );
  }
  return out;
}
