// DestinationRule `trafficPolicy.tls`: one test per istiod validateTLS rule (its words, with file,
// object and field path); the rule is rejected alone and the last good version keeps serving.
import { strict as assert } from "node:assert";
import { type MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";

const file = "/cfg/rules.yaml";

function rule(name: string, tls: unknown, where: "top" | "port" | "subset" = "top"): ConfigObject {
  const trafficPolicy = where === "port" ? { portLevelSettings: [{ port: { number: 443 }, tls }] } : { tls };
  const spec =
    where === "subset"
      ? { host: "api.example.com", subsets: [{ name: "v1", labels: { v: "1" }, trafficPolicy }] }
      : { host: "api.example.com", trafficPolicy };
  return { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name, namespace: "default", labels: {}, annotations: {} }, spec, origin: { file } };
}

function build(objects: ConfigObject[], previous?: MeshSnapshot): MeshSnapshot {
  return buildSnapshot({ objects, errors: [] }, previous);
}

function rejects(tls: unknown, path: string, message: string, where: "top" | "port" | "subset" = "top"): void {
  const s = build([rule("bad", tls, where), rule("good", { mode: "ISTIO_MUTUAL" })]);
  const errs = s.errors.filter((e) => e.object === "DestinationRule default/bad" && e.severity === "error");
  const hit = errs.find((e) => e.path === path && e.message === message);
  assert.ok(hit, `want "${message}" at ${path}, got ${JSON.stringify(errs)}`);
  assert.equal(hit.file, file);
  assert.ok(!s.accepted.has("DestinationRule default/bad"));
  assert.ok(s.accepted.has("DestinationRule default/good"));
}

describe("DestinationRule tls validation (istiod's validateTLS)", () => {
  it("MUTUAL without credentialName needs a client certificate and a private key", () => {
    rejects({ mode: "MUTUAL", privateKey: "/k.pem" }, "spec.trafficPolicy.tls.clientCertificate", "client certificate required for mutual tls");
    rejects({ mode: "MUTUAL", clientCertificate: "/c.pem" }, "spec.trafficPolicy.tls.privateKey", "private key required for mutual tls");
  });
  it("credentialName excludes file-based certificates, CA and CRL", () => {
    rejects({ mode: "SIMPLE", credentialName: "api-cred", caCertificates: "/ca.pem" }, "spec.trafficPolicy.tls", "cannot specify client certificates or CA certificate or CA CRL If credentialName is set");
    rejects({ mode: "MUTUAL", credentialName: "api-cred", caCrl: "/crl.pem" }, "spec.trafficPolicy.portLevelSettings[0].tls", "cannot specify client certificates or CA certificate or CA CRL If credentialName is set", "port");
  });
  it("insecureSkipVerify excludes what it would skip", () => {
    rejects({ mode: "SIMPLE", insecureSkipVerify: true, subjectAltNames: ["api.example.com"] }, "spec.trafficPolicy.tls", "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true");
    rejects({ mode: "MUTUAL", insecureSkipVerify: true, clientCertificate: "/c.pem", privateKey: "/k.pem", caCertificates: "/ca.pem" }, "spec.subsets[0].trafficPolicy.tls", "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true", "subset");
  });
  it("an unknown mode", () => rejects({ mode: "mutual" }, "spec.trafficPolicy.tls.mode", 'must be one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL, got "mutual"'));
  it("accepts what Istio accepts: MUTUAL by credentialName, SIMPLE with a CA, ISTIO_MUTUAL with SANs and SNI", () => {
    const s = build([
      rule("a", { mode: "MUTUAL", credentialName: "api-cred" }),
      rule("b", { mode: "SIMPLE", caCertificates: "/ca.pem", subjectAltNames: ["api.example.com"] }),
      rule("c", { mode: "ISTIO_MUTUAL", sni: "x", subjectAltNames: ["spiffe://cluster.local/ns/a/sa/b"] }),
    ]);
    assert.deepEqual(s.errors.filter((e) => e.severity === "error"), []);
  });
  it("a bad edit keeps the last good rule", () => {
    const first = build([rule("api", { mode: "ISTIO_MUTUAL" })]);
    const second = build([rule("api", { mode: "MUTUAL" })], first);
    assert.equal(second.destinationRules.find((d) => d.ref === "DestinationRule default/api")?.spec.trafficPolicy?.tls?.mode, "ISTIO_MUTUAL");
  });
});
