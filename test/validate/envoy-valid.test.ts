// The support helper other tests use on resources they produce.
import { strict as assert, AssertionError } from "node:assert";
import { toBinary } from "@bufbuild/protobuf";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { TypeUrl, type EncodedResource } from "../../src/xds/types.js";
import { expectEnvoyValid, expectEnvoyValidResources } from "../support/envoy-valid.js";
import * as sample from "./envoy-samples.js";

describe("expectEnvoyValid (test support)", () => {
  const broken = toBinary(ListenerSchema, sample.listener(sample.httpConnectionManager({ statPrefix: "" })));

  it("passes a valid resource and throws an AssertionError naming the resource, path and rule", () => {
    expectEnvoyValid(TypeUrl.Listener, toBinary(ListenerSchema, sample.listener()));
    assert.throws(
      () => expectEnvoyValid(TypeUrl.Listener, broken, "listener 0.0.0.0_8080"),
      (e: unknown) =>
        e instanceof AssertionError &&
        /^listener 0\.0\.0\.0_8080 would be rejected/.test(e.message) &&
        e.message.includes("filter_chains[0].filters[0].typed_config.stat_prefix") &&
        e.message.includes("[string.min_len]"),
    );
  });

  it("checks a set of encoded resources and lists only the broken ones", () => {
    const resource = (typeUrl: TypeUrl, name: string, bytes: Uint8Array): EncodedResource => ({ typeUrl, name, version: "1", bytes });
    const good = resource(TypeUrl.Cluster, "outbound|8080||reviews", toBinary(ClusterSchema, sample.cluster()));
    expectEnvoyValidResources([good]);
    assert.throws(
      () => expectEnvoyValidResources([good, resource(TypeUrl.Listener, "0.0.0.0_8080", broken)]),
      (e: unknown) => e instanceof AssertionError && e.message.includes('"0.0.0.0_8080"') && !e.message.includes("reviews"),
    );
  });
});
