// Split-horizon EDS, golden: endpoints of the proxy's own network are direct; another network's
// are replaced by its east-west gateways weighted by the endpoints behind them; a network without
// a gateway, and any endpoint that would be called in plaintext, is not reached across networks.
// Every resource passes Envoy's validate.rules (and grpc-js-xds's checks for the gRPC client).
// Regenerate with UPDATE_GOLDEN=1 and review the diff like code.
import { strict as assert } from "node:assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { toBinary, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { readConfigFiles } from "../../src/sources/file.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { formatConfigError } from "../../src/model/config.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { dumpResources } from "../../src/translate/dump.js";
import { translate } from "../../src/translate/index.js";
import { encodedResource } from "../../src/xds/resource.js";
import { placeProxy } from "../../src/model/placement.js";
import { expectEnvoyValidResources } from "../support/envoy-valid.js";
import { expectGrpcXdsAccepts } from "../support/grpc-xds-rules.js";

const dir = fileURLToPath(new URL("../../../test/multicluster/golden/", import.meta.url));
const update = process.env["UPDATE_GOLDEN"] === "1";
const proxies = Object.entries(parse(readFileSync(join(dir, "proxies.yaml"), "utf8")) as Record<string, { id: string; metadata: JsonObject }>).map(([name, node]) => ({ name, proxy: parseProxyNode(node) }));
const snapshot = () => buildSnapshot(readConfigFiles([join(dir, "in", "services.yaml")], join(dir, "in", "mesh.yaml")));

interface Lb {
  endpoint: { address: { socketAddress: { address: string; portValue: number } } };
  loadBalancingWeight: number;
}
/** `address:port@weight` of an assignment, sorted. */
function endpointsOf(dump: Record<string, JsonValue[]>, cluster: string): string[] {
  const cla = (dump["endpoints"] as unknown as { clusterName: string; endpoints?: { lbEndpoints: Lb[] }[] }[]).find((c) => c.clusterName === cluster);
  assert.ok(cla !== undefined, `no assignment ${cluster}`);
  return (cla.endpoints ?? []).flatMap((l) => l.lbEndpoints.map((e) => `${e.endpoint.address.socketAddress.address}:${e.endpoint.address.socketAddress.portValue}@${e.loadBalancingWeight}`)).sort();
}

describe("split-horizon EDS across networks (golden)", () => {
  for (const { name, proxy } of proxies) {
    it(`gives ${name} its network's endpoints and the other networks' gateways`, () => {
      const s = snapshot();
      const errors = s.errors.map((e) => formatConfigError({ ...e, file: e.file.split("/").pop() ?? "" }));
      const dump = dumpResources(s, proxy);
      const text = stringify({ errors, placement: { ...placeProxy(s, proxy) }, endpoints: dump["endpoints"] }, { lineWidth: 0 });
      const out = join(dir, "out", `${name}.yaml`);
      if (update || !existsSync(out)) {
        writeFileSync(out, text);
        if (!update) assert.fail(`${out} did not exist; written, review it and re-run`);
      }
      assert.equal(text, readFileSync(out, "utf8"), `${out} differs; if intended, regenerate with UPDATE_GOLDEN=1 and review the diff`);
      const all = [...translate(s, proxy)].flatMap(([typeUrl, planned]) => planned.map((p) => { const { schema, message } = p.build(); return encodedResource(typeUrl, p.name, toBinary(schema, message)); }));
      expectEnvoyValidResources(all);
      if (proxy.flavour === "grpc") expectGrpcXdsAccepts(all);
    });
  }

  it("sends network-a's proxies to network-b's two gateways sharing the weight of network-b's endpoints, and never to network-c", () => {
    const s = snapshot();
    const [a, grpc, b] = proxies.map((p) => dumpResources(s, p.proxy));
    const reviews = "outbound|9080||reviews.default.svc.cluster.local";
    // One local endpoint to two behind the gateways, every weight scaled by 2 (the gateway count).
    assert.deepEqual(endpointsOf(a!, reviews), ["10.10.0.1:9080@2", "198.51.100.20:15443@2", "198.51.100.21:15443@2"]);
    assert.deepEqual(endpointsOf(grpc!, reviews), ["10.10.0.1:9080@2", "198.51.100.20:15443@2", "198.51.100.21:15443@2"]);
    assert.deepEqual(endpointsOf(b!, reviews), ["10.20.0.1:9080@1", "10.20.0.2:9080@1", "192.0.2.10:15443@1"]);
  });

  it("crosses networks over mTLS only: a plaintext endpoint stays in its network, and proxyless gRPC without ISTIO_MUTUAL stays home", () => {
    const s = snapshot();
    const [a, grpc, b] = proxies.map((p) => dumpResources(s, p.proxy));
    const ratings = "outbound|7070||ratings.default.svc.cluster.local";
    // One mTLS endpoint behind two gateways: every weight doubles so the split stays whole.
    assert.deepEqual(endpointsOf(a!, ratings), ["10.10.0.3:7070@2", "198.51.100.20:15443@1", "198.51.100.21:15443@1"]);
    assert.deepEqual(endpointsOf(grpc!, ratings), ["10.10.0.3:7070@1"]);
    assert.deepEqual(endpointsOf(b!, ratings), ["10.20.0.3:7070@1", "10.20.0.4:7070@1", "192.0.2.10:15443@1"]);
  });

  it("places a proxy the registry does not know by its NETWORK metadata, else by meshNetworks", () => {
    const s = snapshot();
    assert.equal(placeProxy(s, proxies[0]!.proxy).network, "network-a");
    assert.equal(placeProxy(s, proxies[2]!.proxy).network, "network-b");
    assert.equal(placeProxy(s, proxies[2]!.proxy).by, "metadata");
  });
});
