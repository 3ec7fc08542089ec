// What a proxy's EDS says about locality and failover, for the tests of priorities and weights:
// Istio objects from "files", the assignment of one cluster as translated for a proxy (every
// resource checked against Envoy's rules, and grpc-js-xds's for proxyless), and its priorities.
import { toBinary } from "@bufbuild/protobuf";
import type { ConfigObject } from "../../src/model/config.js";
import type { Proxy } from "../../src/model/proxy.js";
import type { MeshSnapshot } from "../../src/model/snapshot.js";
import { translate } from "../../src/translate/index.js";
import { encodedResource } from "../../src/xds/resource.js";
import { TypeUrl } from "../../src/xds/types.js";
import type { ClusterLoadAssignment } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { expectEnvoyValidResources } from "./envoy-valid.js";
import { expectGrpcXdsAccepts } from "./grpc-xds-rules.js";

/** An Istio networking object in namespace default, as read from `<name>.yaml`. */
export const istioFile = (kind: string, name: string, spec: unknown): ConfigObject => ({
  apiVersion: "networking.istio.io/v1",
  kind,
  metadata: { name, namespace: "default", labels: {}, annotations: {} },
  spec,
  origin: { file: `${name}.yaml` },
});

/** The assignment of `clusterName` the proxy gets, after checking all its resources are valid. */
export function assignmentFor(s: MeshSnapshot, p: Proxy, clusterName: string): ClusterLoadAssignment {
  const planned = translate(s, p);
  const all = [...planned].flatMap(([typeUrl, list]) => list.map((x) => { const { schema, message } = x.build(); return encodedResource(typeUrl, x.name, toBinary(schema, message)); }));
  expectEnvoyValidResources(all);
  if (p.flavour === "grpc") expectGrpcXdsAccepts(all);
  return planned.get(TypeUrl.ClusterLoadAssignment)!.map((x) => x.build().message as ClusterLoadAssignment).find((c) => c.clusterName === clusterName)!;
}

/** `priority:address` per endpoint, sorted. */
export const priorities = (cla: ClusterLoadAssignment): string[] =>
  cla.endpoints.flatMap((l) => l.lbEndpoints.map((e) => `${l.priority}:${e.hostIdentifier.case === "endpoint" && e.hostIdentifier.value.address?.address.case === "socketAddress" ? e.hostIdentifier.value.address.address.value.address : "?"}`)).sort();
