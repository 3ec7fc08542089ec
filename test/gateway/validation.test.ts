// Gateway validation as istiod's ValidateGateway: each bad field is reported with the file, the
// object and its field path, the Gateway is rejected alone (the rest of the mesh keeps serving),
// and a Gateway that turns bad keeps its last good version.
import { strict as assert } from "node:assert";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigError, ConfigObject } from "../../src/model/config.js";
import type { MeshSnapshot } from "../../src/model/snapshot.js";
import { gatewaysOf } from "../../src/gateway/gateway-kind.js";

const file = "/cfg/gateways.yaml";

function gateway(name: string, spec: unknown): ConfigObject {
  return { apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name, namespace: "istio-system", labels: {}, annotations: {} }, spec, origin: { file } };
}

const good = gateway("good", { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] });

function build(objects: ConfigObject[], previous?: MeshSnapshot): MeshSnapshot {
  return buildSnapshot({ objects, errors: [] }, previous);
}

function problems(s: MeshSnapshot, severity: "error" | "warning", name = "bad"): ConfigError[] {
  return s.errors.filter((e) => e.object === `Gateway istio-system/${name}` && e.severity === severity);
}

/** `spec` is rejected with an error at `path` matching `message`; the good Gateway stays. */
function rejects(spec: unknown, path: string, message: RegExp, name = "bad"): void {
  const s = build([good, gateway(name, spec)]);
  const errs = problems(s, "error", name);
  const hit = errs.find((e) => e.path === path);
  assert.ok(hit, `want an error at ${path}, got ${JSON.stringify(errs)}`);
  assert.equal(hit.file, file);
  assert.match(hit.message, message);
  assert.deepEqual(gatewaysOf(s).map((g) => g.name), ["good"]);
}

const http = { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] };
const https = (tls: unknown, name = "https") => ({ port: { number: 443, name, protocol: "HTTPS" }, hosts: ["a.example.com"], tls });

describe("Gateway validation, as istiod's ValidateGateway", () => {
  it("accepts a valid Gateway and keeps it typed", () => {
    const s = build([good]);
    assert.deepEqual(s.errors, []);
    assert.deepEqual(gatewaysOf(s)[0]?.spec.servers[0]?.port, { number: 80, name: "http", protocol: "HTTP" });
  });
  it("requires at least one server", () => rejects({ servers: [] }, "spec.servers", /at least one server/));
  it("requires hosts on a server", () => rejects({ servers: [{ ...http, hosts: [] }] }, "spec.servers[0].hosts", /at least one host/));
  it("rejects a host with a bad namespace part", () => rejects({ servers: [{ ...http, hosts: ["Bad_NS/a.example.com"] }] }, "spec.servers[0].hosts[0]", /not a DNS-1123 label/));
  it("rejects a host with a wildcard in the middle", () => rejects({ servers: [{ ...http, hosts: ["a.*.example.com"] }] }, "spec.servers[0].hosts[0]", /not a valid host name/));
  it("requires a port", () => rejects({ servers: [{ hosts: ["*"] }] }, "spec.servers[0].port", /port is required/));
  it("rejects an unknown protocol", () => rejects({ servers: [{ ...http, port: { number: 80, name: "x", protocol: "SPDY" } }] }, "spec.servers[0].port.protocol", /invalid protocol "SPDY"/));
  it("rejects a port number out of range", () => rejects({ servers: [{ ...http, port: { number: 70000, name: "x", protocol: "HTTP" } }] }, "spec.servers[0].port.number", /1 to 65535/));
  it("requires a port name", () => rejects({ servers: [{ ...http, port: { number: 80, protocol: "HTTP" } }] }, "spec.servers[0].port.name", /must be set/));
  it("rejects targetPort, which has no effect on gateways", () => rejects({ servers: [{ ...http, port: { number: 80, name: "h", protocol: "HTTP", targetPort: 8080 } }] }, "spec.servers[0].port.targetPort", /no impact/));
  it("rejects two servers with one port name", () => rejects({ servers: [http, { ...http, port: { number: 81, name: "http", protocol: "HTTP" } }] }, "spec.servers[1].port.name", /must be unique: duplicate name http/));
  it("requires TLS settings on HTTPS", () => rejects({ servers: [{ ...https(undefined) }] }, "spec.servers[0].tls", /must have TLS settings/));
  it("rejects TLS termination settings on plain HTTP", () => rejects({ servers: [{ ...http, tls: { mode: "SIMPLE", credentialName: "x" } }] }, "spec.servers[0].tls", /plain text HTTP/));
  it("rejects TLS settings on TCP", () => rejects({ servers: [{ port: { number: 5432, name: "tcp", protocol: "TCP" }, hosts: ["*"], tls: { httpsRedirect: true } }] }, "spec.servers[0].tls", /non HTTPS\/TLS ports/));
  it("rejects a credentialName on ISTIO_MUTUAL", () => rejects({ servers: [https({ mode: "ISTIO_MUTUAL", credentialName: "x" })] }, "spec.servers[0].tls.credentialName", /ISTIO_MUTUAL TLS cannot have associated credentialName/));
  it("requires a client CA for MUTUAL with files", () => rejects({ servers: [https({ mode: "MUTUAL", serverCertificate: "/c", privateKey: "/k" })] }, "spec.servers[0].tls.caCertificates", /MUTUAL TLS requires a client CA bundle/));
  it("requires a server certificate for SIMPLE without credentialName", () => rejects({ servers: [https({ mode: "SIMPLE", privateKey: "/k" })] }, "spec.servers[0].tls.serverCertificate", /requires a server certificate/));
  it("rejects an unknown TLS mode", () => rejects({ servers: [https({ mode: "STRICT" })] }, "spec.servers[0].tls.mode", /one of PASSTHROUGH, SIMPLE/));
  it("rejects a bind that is not an IP", () => rejects({ servers: [{ ...http, bind: "localhost" }] }, "spec.servers[0].bind", /not an IP address/));
  it("rejects a gateway name with a dot", () => rejects({ servers: [http] }, "metadata.name", /invalid gateway name/, "my.gateway"));
  it("warns, and still accepts, httpsRedirect on a non-HTTP server and certificates on PASSTHROUGH", () => {
    const s = build([gateway("warned", { servers: [{ ...https({ mode: "PASSTHROUGH", credentialName: "x", httpsRedirect: true }) }] })]);
    assert.deepEqual(problems(s, "error", "warned"), []);
    assert.deepEqual(problems(s, "warning", "warned").map((w) => w.path).sort(), ["spec.servers[0].tls", "spec.servers[0].tls.httpsRedirect"]);
    assert.equal(gatewaysOf(s).length, 1);
  });
  it("a Gateway that turns bad keeps serving its last good version", () => {
    const first = build([good]);
    const broken = build([gateway("good", { servers: [{ ...http, port: { number: 80, name: "http", protocol: "NOPE" } }] })], first);
    assert.ok(problems(broken, "error", "good").some((e) => e.path === "spec.servers[0].port.protocol"));
    assert.deepEqual(gatewaysOf(broken)[0]?.spec.servers[0]?.port.protocol, "HTTP");
  });
});
