import assert from "node:assert/strict";
import { create, equals, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { DiscoveryRequestSchema } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { decodeDiscoveryRequest } from "../../src/xds/request.js";
import { TypeUrl } from "../../src/xds/types.js";

const encode = (init: MessageInitShape<typeof DiscoveryRequestSchema>): Buffer => Buffer.from(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, init)));

describe("xds request decoding (ACK fast path)", () => {
  const names = Array.from({ length: 100 }, (_, i) => `outbound|8080||svc-${i}.ns-${i % 10}.svc.cluster.local`);
  const cases: [string, Buffer][] = [
    ["an ACK with names", encode({ versionInfo: "e-7", resourceNames: names, typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: "12" })],
    ["a wildcard ACK", encode({ versionInfo: "e-1", typeUrl: TypeUrl.Cluster, responseNonce: "1" })],
    ["a first request with a node", encode({ node: { id: "sidecar~10.0.0.1~a.ns~ns.svc.cluster.local" }, typeUrl: TypeUrl.Cluster })],
    ["a NACK", encode({ versionInfo: "e-6", resourceNames: ["a"], typeUrl: TypeUrl.Listener, responseNonce: "9", errorDetail: { code: 3, message: "bad listener" } })],
    ["names that are not ASCII and empty", encode({ resourceNames: ["ünïcode-名前", "", "*"], typeUrl: TypeUrl.RouteConfiguration, responseNonce: "4" })],
    ["an unknown type", encode({ typeUrl: "type.googleapis.com/example.Unknown", responseNonce: "x" })],
    ["a long name (two-byte length)", encode({ resourceNames: ["n".repeat(300)], typeUrl: TypeUrl.ClusterLoadAssignment })],
    // Names split by another field (legal protobuf: repeated fields may be interleaved).
    ["interleaved names", Buffer.concat([encode({ resourceNames: ["a"] }), encode({ typeUrl: TypeUrl.Cluster }), encode({ resourceNames: ["b"] })])],
    ["an empty message", Buffer.alloc(0)],
  ];
  for (const [what, bytes] of cases) {
    it(`decodes ${what} exactly as fromBinary does`, () => {
      const fast = decodeDiscoveryRequest(bytes);
      const full = fromBinary(DiscoveryRequestSchema, bytes);
      assert.ok(equals(DiscoveryRequestSchema, create(DiscoveryRequestSchema, fast), full), `${what}: ${JSON.stringify(fast)} vs ${JSON.stringify(full)}`);
    });
  }

  it("hands out one array for equal encoded name lists, and a different one for a different list", () => {
    const a = decodeDiscoveryRequest(encode({ resourceNames: names, typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: "1" }));
    const b = decodeDiscoveryRequest(encode({ resourceNames: names, typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: "2", versionInfo: "v" }));
    const c = decodeDiscoveryRequest(encode({ resourceNames: [...names.slice(1), "other"], typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: "3" }));
    assert.equal(a.resourceNames, b.resourceNames);
    assert.notEqual(a.resourceNames, c.resourceNames);
    assert.deepEqual(c.resourceNames, [...names.slice(1), "other"]);
    assert.ok(Object.isFrozen(a.resourceNames), "a shared list must not be modifiable by one stream");
  });

  it("tells apart lists of equal length and equal ends that differ in the middle", () => {
    const other = names.map((n, i) => (i === 50 ? n.replace("svc-50", "svc-x0") : n));
    const a = decodeDiscoveryRequest(encode({ resourceNames: names, typeUrl: TypeUrl.ClusterLoadAssignment }));
    const b = decodeDiscoveryRequest(encode({ resourceNames: other, typeUrl: TypeUrl.ClusterLoadAssignment }));
    assert.deepEqual(a.resourceNames, names);
    assert.deepEqual(b.resourceNames, other);
  });

  it("falls back to the full decoder for a truncated message (and fails as it does)", () => {
    const bytes = encode({ resourceNames: names, typeUrl: TypeUrl.ClusterLoadAssignment }).subarray(0, 50);
    assert.throws(() => fromBinary(DiscoveryRequestSchema, bytes));
    assert.throws(() => decodeDiscoveryRequest(bytes));
  });
});
