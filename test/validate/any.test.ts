// Recursion into google.protobuf.Any: payloads are validated as the type their URL names, with
// paths that run through the Any field; unknown types count only when asked; broken payloads count.
import { strict as assert } from "node:assert";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack, AnySchema } from "@bufbuild/protobuf/wkt";
import { ListenerSchema, type Listener } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { ListenerFilterSchema } from "../../src/gen/envoy/config/listener/v3/listener_components_pb.js";
import { RBACSchema as NetworkRbacSchema } from "../../src/gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js";
import { TlsInspectorSchema } from "../../src/gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js";
import { TypeUrl } from "../../src/xds/types.js";
import { assertValid, validateEncoded, validateMessage, type Violation } from "../../src/validate/pgv.js";
import * as sample from "./envoy-samples.js";

const located = (vs: readonly Violation[]): { path: string; rule: string }[] => vs.map(({ path, rule }) => ({ path, rule }));

/** A listener whose first network filter is RBAC with one policy, and HCM second. */
function rbacThenHcm(permissionAny: boolean, principals: boolean, statPrefix = "inbound_8080"): Listener {
  const l = sample.listener(sample.httpConnectionManager({ statPrefix }));
  const rbac = create(NetworkRbacSchema, {
    statPrefix: "tcp.",
    rules: {
      policies: {
        "ns[default]-policy[allow-reviews]-rule[0]": {
          permissions: [{ rule: { case: "any", value: permissionAny } }],
          principals: principals ? [{ identifier: { case: "any", value: true } }] : [],
        },
      },
    },
  });
  l.filterChains[0]!.filters.unshift({
    $typeName: "envoy.config.listener.v3.Filter",
    name: "envoy.filters.network.rbac",
    configType: { case: "typedConfig", value: anyPack(NetworkRbacSchema, rbac) },
  });
  return l;
}

describe("PGV recursion into Any", () => {
  it("reports a missing stat_prefix of an HCM in the second filter with the full path", () => {
    assert.deepEqual(located(validateMessage(ListenerSchema, rbacThenHcm(true, true, ""))), [
      { path: "filter_chains[0].filters[1].typed_config.stat_prefix", rule: "string.min_len" },
    ]);
    assert.deepEqual(validateMessage(ListenerSchema, rbacThenHcm(true, true)), []);
  });

  it("walks map values inside an Any (RBAC policies) and reports each broken rule", () => {
    const policy = 'filter_chains[0].filters[0].typed_config.rules.policies["ns[default]-policy[allow-reviews]-rule[0]"]';
    assert.deepEqual(located(validateMessage(ListenerSchema, rbacThenHcm(false, false, ""))), [
      { path: `${policy}.permissions[0].any`, rule: "bool.const" },
      { path: `${policy}.principals`, rule: "repeated.min_items" },
      { path: "filter_chains[0].filters[1].typed_config.stat_prefix", rule: "string.min_len" },
    ]);
  });

  it("checks wrapper rules in listener filters' Any (tls_inspector buffer size)", () => {
    const withBuffer = (size: number): Listener => {
      const l = sample.listener();
      l.listenerFilters = [
        create(ListenerFilterSchema, {
          name: "envoy.filters.listener.tls_inspector",
          configType: { case: "typedConfig", value: anyPack(TlsInspectorSchema, create(TlsInspectorSchema, { initialReadBufferSize: size })) },
        }),
      ];
      return l;
    };
    assert.deepEqual(located(validateMessage(ListenerSchema, withBuffer(0))), [
      { path: "listener_filters[0].typed_config.initial_read_buffer_size", rule: "uint32.gt_lt" },
    ]);
    assert.deepEqual(validateMessage(ListenerSchema, withBuffer(65536)), []);
  });

  it("ignores an Any of an unknown type unless strictAny is set", () => {
    const l = sample.listener();
    l.filterChains[0]!.filters[0]!.configType = {
      case: "typedConfig",
      value: create(AnySchema, { typeUrl: "type.googleapis.com/envoy.extensions.filters.network.not_generated.v3.Config", value: new Uint8Array([8, 1]) }),
    };
    assert.deepEqual(validateMessage(ListenerSchema, l), []);
    assert.deepEqual(located(validateMessage(ListenerSchema, l, { strictAny: true })), [
      { path: "filter_chains[0].filters[0].typed_config", rule: "any.unknown_type" },
    ]);
  });

  it("reports an Any payload that does not decode as its type", () => {
    const l = sample.listener();
    l.filterChains[0]!.filters[0]!.configType = {
      case: "typedConfig",
      value: create(AnySchema, { typeUrl: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", value: new Uint8Array([0x0a, 0x05, 0x61]) }),
    };
    assert.deepEqual(located(validateMessage(ListenerSchema, l)), [{ path: "filter_chains[0].filters[0].typed_config", rule: "any.decode" }]);
  });
});

describe("validateEncoded and assertValid", () => {
  it("decodes resource bytes by type URL and validates them like the message", () => {
    const broken = sample.listener(sample.httpConnectionManager({ statPrefix: "" }));
    const bytes = toBinary(ListenerSchema, broken);
    assert.deepEqual(validateEncoded(TypeUrl.Listener, bytes), validateMessage(ListenerSchema, broken));
    assert.equal(validateEncoded(TypeUrl.Listener, bytes).length, 1);
    assert.deepEqual(validateEncoded(TypeUrl.Listener, toBinary(ListenerSchema, sample.listener())), []);
  });

  it("reports an unknown type URL and undecodable bytes at the root", () => {
    assert.deepEqual(located(validateEncoded("type.googleapis.com/envoy.nothing.v3.Nothing", new Uint8Array())), [{ path: "", rule: "any.unknown_type" }]);
    assert.deepEqual(located(validateEncoded(TypeUrl.Cluster, new Uint8Array([0xff, 0xff]))), [{ path: "", rule: "any.decode" }]);
  });

  it("assertValid throws naming the path and rule, and passes a valid resource", () => {
    assert.throws(
      () => assertValid(ListenerSchema, sample.listener(sample.httpConnectionManager({ statPrefix: "" }))),
      /filter_chains\[0\]\.filters\[0\]\.typed_config\.stat_prefix: .*\[string\.min_len\]/,
    );
    assertValid(ListenerSchema, sample.listener());
  });
});
