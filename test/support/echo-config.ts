// mesh-config YAML for the echo service of the end-to-end tests.
export const echoHost = "echo.default.svc.cluster.local";
const host = echoHost;

/** The echo ServiceEntry; `workloads` says where its endpoints come from (default: WorkloadEntries labelled app=echo). */
export function serviceEntry(workloads = "  workloadSelector: {labels: {app: echo}}\n"): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [${host}]
  ports: [{number: 7070, name: grpc, protocol: GRPC}]
  location: MESH_INTERNAL
  resolution: STATIC
${workloads}`;
}

/** An echo endpoint at 127.0.0.1:`port`; `version` adds a `version` label (for DestinationRule subsets). */
export function workloadEntry(name: string, port: number, locality: string, weight = 1, version?: string): string {
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: default}
spec:
  address: 127.0.0.1
  ports: {grpc: ${port}}
  labels: {app: echo${version !== undefined ? `, version: ${version}` : ""}}
  locality: ${locality}
  weight: ${weight}
`;
}


/** Consistent hashing on a request header, plus a subset. */
export function hashingRule(header: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: ${host}
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: ${header}}
  subsets:
  - {name: a, labels: {app: echo}}
`;
}

/**
 * The echo service with one endpoint at 127.0.0.1:`port` (labelled app=echo, running as
 * `serviceAccount`), called with ISTIO_MUTUAL, under a PeerAuthentication of `mode` in
 * `peerAuthNamespace` (the root namespace makes it mesh-wide).
 */
export function mtlsEchoConfig(port: number, mode: "STRICT" | "PERMISSIVE", serviceAccount: string, peerAuthNamespace = "default"): string {
  const endpoints = `  endpoints:\n  - {address: 127.0.0.1, ports: {grpc: ${port}}, serviceAccount: ${serviceAccount}, labels: {app: echo}}\n`;
  return `${serviceEntry(endpoints)}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: ${host}
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: ${peerAuthNamespace}}
spec:
  mtls: {mode: ${mode}}
`;
}
