// The grpc-js-xds acceptance check itself must catch what the real client rejects.
import { strict as assert } from "node:assert";
import { create, toBinary } from "@bufbuild/protobuf";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ClusterSchema, Cluster_DiscoveryType, Cluster_LbPolicy } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { encodedResource } from "../../src/xds/resource.js";
import { TypeUrl } from "../../src/xds/types.js";
import { grpcXdsViolations } from "../support/grpc-xds-rules.js";
import { socketAddress } from "../../src/translate/common.js";

describe("grpc-js-xds acceptance rules (test support)", () => {
  it("flags listener filters, use_original_dst and port matches", () => {
    const l = create(ListenerSchema, { name: "x", useOriginalDst: true, listenerFilters: [{ name: "tls_inspector" }], filterChains: [{ filterChainMatch: { destinationPort: 80 }, filters: [] }] });
    const v = grpcXdsViolations(encodedResource(TypeUrl.Listener, "x", toBinary(ListenerSchema, l)));
    assert.equal(v.length, 4, v.join("\n"));
  });
  it("flags localities without weight, hostnames and duplicate addresses", () => {
    const ep = (a: string) => ({ hostIdentifier: { case: "endpoint" as const, value: { address: socketAddress(a, 80) } } });
    const cla = create(ClusterLoadAssignmentSchema, { clusterName: "c", endpoints: [{ locality: {}, lbEndpoints: [ep("10.0.0.1"), ep("10.0.0.1"), ep("db.example")] }] });
    const v = grpcXdsViolations(encodedResource(TypeUrl.ClusterLoadAssignment, "c", toBinary(ClusterLoadAssignmentSchema, cla)));
    assert.deepEqual(v.map((x) => x.replace(/^.*?: /, "")), ["locality 0 has no load_balancing_weight (silently dropped)", "duplicate address 10.0.0.1:80", "endpoint is not an IP literal with a port value"]);
  });
  it("flags lb policies other than round robin and ring hash", () => {
    const c = create(ClusterSchema, { name: "c", clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS }, edsClusterConfig: { edsConfig: { configSourceSpecifier: { case: "ads", value: {} } } }, lbPolicy: Cluster_LbPolicy.LEAST_REQUEST });
    assert.equal(grpcXdsViolations(encodedResource(TypeUrl.Cluster, "c", toBinary(ClusterSchema, c))).length, 1);
  });
});
