// `meshward bootstrap` (issue 14 item 3): the Envoy bootstrap for a sidecar or gateway, checked
// against Envoy's validate.rules (recursing into every Any) and read back the way the server
// reads the node; golden output for the default sidecar. Regenerate with UPDATE_GOLDEN=1.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { fromJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { BootstrapSchema, type Bootstrap } from "../../src/gen/envoy/config/bootstrap/v3/bootstrap_pb.js";
import { UpstreamTlsContextSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { bootstrapTypeRegistry, buildBootstrap, DEFAULT_SDS_SOCKET, parseBootstrapArgs } from "../../src/cli/bootstrap.js";
import { DEFAULT_IDENTITY_SOCKET } from "../../src/agent/identity/identity-socket.js";
import { formatViolations, validateMessage } from "../../src/validate/pgv.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { runMeshwardIn } from "../support/meshward-cli.js";
import { FlagError } from "../../src/cli/flags.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const update = process.env["UPDATE_GOLDEN"] === "1";

const meshward = (...args: string[]) => runMeshwardIn(repoRoot, ...args);

/** Parses printed JSON into the Bootstrap message and asserts Envoy's validate.rules hold. */
function envoyAccepts(json: JsonValue): Bootstrap {
  const b = fromJson(BootstrapSchema, json, { registry: bootstrapTypeRegistry });
  assert.equal(formatViolations(validateMessage(BootstrapSchema, b, { strictAny: true })), "");
  return b;
}

describe("meshward bootstrap", () => {
  it("prints a sidecar bootstrap Envoy's validate.rules accept, whose node the server reads back as given", async () => {
    const r = await meshward("bootstrap", "--type", "sidecar", "--pod", "web-1", "--namespace", "shop", "--ip", "10.0.0.7", "--labels", "app=web,version=v1");
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as JsonObject;
    const b = envoyAccepts(json);
    const file = path.join(repoRoot, "test", "cli", "bootstrap", "sidecar.json");
    if (update) writeFileSync(file, r.stdout);
    assert.equal(r.stdout, readFileSync(file, "utf8"), `${file} differs; if intended, regenerate with UPDATE_GOLDEN=1`);
    assert.ok(b.node !== undefined);
    const proxy = parseProxyNode({ id: b.node.id, metadata: (json["node"] as JsonObject)["metadata"] as JsonObject });
    assert.equal(proxy.type, "sidecar");
    assert.equal(proxy.namespace, "shop");
    assert.equal(proxy.podName, "web-1");
    assert.deepEqual(proxy.ips, ["10.0.0.7"]);
    assert.deepEqual(proxy.labels, { app: "web", version: "v1" });
    assert.equal(b.node.cluster, "web.shop");
  });

  it("sends ADS over TLS to 15012 with the certificate and root taken by SDS from the node agent's socket", () => {
    const out = buildBootstrap(parseBootstrapArgs(["--type", "sidecar", "--pod", "a", "--sds-socket", "/run/test/identity.sock"]).req);
    assert.ok("json" in out, "violations" in out ? out.violations : "");
    const b = envoyAccepts(out.json);
    const ads = b.dynamicResources?.adsConfig;
    assert.equal(ads?.grpcServices[0]?.targetSpecifier.case, "envoyGrpc");
    const clusterName = ads?.grpcServices[0]?.targetSpecifier.case === "envoyGrpc" ? ads.grpcServices[0].targetSpecifier.value.clusterName : "";
    const xds = b.staticResources?.clusters.find((c) => c.name === clusterName);
    assert.ok(xds !== undefined, "the ADS cluster exists");
    const ep = xds.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
    assert.equal(ep?.case, "endpoint");
    const addr = ep?.case === "endpoint" ? ep.value.address?.address : undefined;
    assert.equal(addr?.case, "socketAddress");
    assert.equal(addr?.case === "socketAddress" ? `${addr.value.address}:${addr.value.portSpecifier.value}` : "", "127.0.0.1:15012");
    assert.ok(xds.transportSocket?.configType.case === "typedConfig");
    const tls = anyUnpack(xds.transportSocket.configType.value, UpstreamTlsContextSchema);
    assert.ok(tls !== undefined);
    assert.equal(tls.sni, "istiod.istio-system.svc");
    const common = tls.commonTlsContext;
    assert.deepEqual(common?.tlsCertificateSdsSecretConfigs.map((s) => s.name), ["default"]);
    const validation = common?.validationContextType;
    assert.equal(validation?.case, "combinedValidationContext");
    assert.equal(validation?.case === "combinedValidationContext" ? validation.value.validationContextSdsSecretConfig?.name : "", "ROOTCA");
    const sdsCluster = b.staticResources?.clusters.find((c) => c.name === "sds-grpc");
    const pipe = sdsCluster?.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
    assert.equal(pipe?.case === "endpoint" && pipe.value.address?.address.case === "pipe" ? pipe.value.address.address.value.path : "", "/run/test/identity.sock");
    const admin = b.admin?.address?.address;
    assert.equal(admin?.case === "socketAddress" ? admin.value.address : "", "127.0.0.1", "admin stays on loopback");
  });

  it("points SDS at the socket the node agent serves by default", () => {
    // bootstrap keeps its own copy so printing a bootstrap does not load the agent's native modules.
    assert.equal(DEFAULT_SDS_SOCKET, DEFAULT_IDENTITY_SOCKET);
  });

  it("prints a router bootstrap as YAML with the same content as its JSON", async () => {
    const args = ["bootstrap", "--type", "router", "--node", "router~10.0.0.9~gw-1.istio-system~istio-system.svc.cluster.local", "--discovery-address", "meshward.example.org:15012", "--stats-port", "0"];
    const json = await meshward(...args);
    const yaml = await meshward(...args, "-o", "yaml");
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(parseYaml(yaml.stdout), JSON.parse(json.stdout));
    const b = envoyAccepts(JSON.parse(json.stdout) as JsonValue);
    assert.equal(b.staticResources?.listeners.length, 0, "--stats-port 0: no stats listener");
    assert.equal(b.staticResources?.clusters.find((c) => c.name === "xds-grpc")?.clusterDiscoveryType.value, 1, "a DNS name resolves with STRICT_DNS");
  });

  it("puts --locality in node.locality, which the server reads as the proxy's own claim", () => {
    const out = buildBootstrap(parseBootstrapArgs(["--type", "sidecar", "--pod", "a", "--locality", "us-east1/us-east1-b"]).req);
    assert.ok(!("violations" in out), JSON.stringify(out));
    const b = envoyAccepts(out.json);
    assert.deepEqual({ region: b.node?.locality?.region, zone: b.node?.locality?.zone, subZone: b.node?.locality?.subZone }, { region: "us-east1", zone: "us-east1-b", subZone: "" });
    assert.equal(parseProxyNode({ id: b.node!.id, metadata: {}, locality: b.node!.locality }).nodeLocality, "us-east1/us-east1-b/");
    assert.throws(() => parseBootstrapArgs(["--type", "sidecar", "--pod", "a", "--locality", "a/b/c/d"]), (e: Error) => e instanceof FlagError && /--locality must be region\[\/zone\[\/subzone\]\]/.test(e.message));
  });

  it("refuses a bootstrap Envoy would reject, and bad flags with exit 2", async () => {
    const out = buildBootstrap(parseBootstrapArgs(["--type", "sidecar", "--pod", "a", "--sds-socket", ""]).req);
    assert.ok("violations" in out && /path/.test(out.violations), JSON.stringify(out));
    for (const [args, message] of [
      [["--pod", "a"], /--type is required/],
      [["--type", "gateway", "--pod", "a"], /--type must be sidecar or router/],
      [["--type", "sidecar"], /--node or --pod is required/],
      [["--type", "router", "--node", "sidecar~10.0.0.1~a.b~b.svc.cluster.local"], /is a sidecar, but --type is router/],
      [["--type", "sidecar", "--pod", "a", "--ip", "0.0.0.0/0"], /is not an IP address/],
      [["--type", "sidecar", "--pod", "a", "--discovery-address", "nowhere"], /host:port/],
    ] as const) {
      assert.throws(() => parseBootstrapArgs(args), (e: Error) => e instanceof FlagError && message.test(e.message), args.join(" "));
    }
    const r = await meshward("bootstrap", "--type", "sidecar");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--node or --pod is required[\s\S]*usage: meshward bootstrap/);
  });
});
