import assert from "node:assert/strict";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import {
  DeltaDiscoveryResponseSchema,
  DiscoveryResponseSchema,
} from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { assembleDeltaResponse, assembleSotwResponse } from "../../src/xds/wire.js";
import { encodedResource } from "../../src/xds/resource.js";
import { TypeUrl } from "../../src/xds/types.js";

describe("xds wire: hand-assembled responses", () => {
  // A large cluster (length prefixes need multi-byte varints) and an empty one (no value field).
  const big = create(ClusterSchema, { name: "outbound|80||big.default.svc.cluster.local", altStatName: "x".repeat(70_000) });
  const empty = create(ClusterSchema, {});
  const resources = [big, empty].map((c) => encodedResource(TypeUrl.Cluster, c.name, toBinary(ClusterSchema, c)));

  it("SotW DiscoveryResponse bytes equal toBinary(create(...)) and decode to the same message", () => {
    const hand = assembleSotwResponse({ versionInfo: "epoch-7", resources, typeUrl: TypeUrl.Cluster, nonce: "3" });
    const expected = create(DiscoveryResponseSchema, {
      versionInfo: "epoch-7",
      resources: [anyPack(ClusterSchema, big), anyPack(ClusterSchema, empty)],
      typeUrl: TypeUrl.Cluster,
      nonce: "3",
    });
    assert.ok(equals(DiscoveryResponseSchema, fromBinary(DiscoveryResponseSchema, hand), expected));
    assert.deepEqual(new Uint8Array(hand), toBinary(DiscoveryResponseSchema, expected));
  });

  it("an empty SotW response (delete all) encodes like toBinary", () => {
    const hand = assembleSotwResponse({ versionInfo: "v", resources: [], typeUrl: TypeUrl.Listener, nonce: "1" });
    const expected = create(DiscoveryResponseSchema, { versionInfo: "v", typeUrl: TypeUrl.Listener, nonce: "1" });
    assert.deepEqual(new Uint8Array(hand), toBinary(DiscoveryResponseSchema, expected));
  });

  it("DeltaDiscoveryResponse bytes equal toBinary(create(...)), with Resource wrappers and removals", () => {
    const hand = assembleDeltaResponse({
      systemVersionInfo: "epoch-9",
      resources,
      typeUrl: TypeUrl.Cluster,
      removedResources: ["gone", ""],
      nonce: "12",
    });
    const expected = create(DeltaDiscoveryResponseSchema, {
      systemVersionInfo: "epoch-9",
      resources: resources.map((r, i) => ({ name: r.name, version: r.version, resource: anyPack(ClusterSchema, [big, empty][i]!) })),
      typeUrl: TypeUrl.Cluster,
      removedResources: ["gone", ""],
      nonce: "12",
    });
    assert.ok(equals(DeltaDiscoveryResponseSchema, fromBinary(DeltaDiscoveryResponseSchema, hand), expected));
    assert.deepEqual(new Uint8Array(hand), toBinary(DeltaDiscoveryResponseSchema, expected));
  });

  it("content versions are equal for equal bytes and differ otherwise", () => {
    const a = encodedResource(TypeUrl.Cluster, "a", toBinary(ClusterSchema, big));
    const b = encodedResource(TypeUrl.Cluster, "a", toBinary(ClusterSchema, create(ClusterSchema, { ...big, altStatName: "y" })));
    assert.equal(a.version, resources[0]!.version);
    assert.notEqual(a.version, b.version);
  });
});
