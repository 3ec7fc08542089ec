// mesh-config YAML for the echo service of the end-to-end tests.
export const echoHost = "echo.default.svc.cluster.local";
const host = echoHost;

export function serviceEntry(): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [${host}]
  ports: [{number: 7070, name: grpc, protocol: GRPC}]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {app: echo}}
`;
}

export function workloadEntry(name: string, port: number, locality: string, weight = 1): string {
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: default}
spec:
  address: 127.0.0.1
  ports: {grpc: ${port}}
  labels: {app: echo}
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
