// PeerAuthentication: one test per validation rule (istiod's ValidatePeerAuthentication and the
// CRD schema, with file, object and field path), and istiod's composition (levels, oldest wins,
// UNSET inherits, port level only on workload policies).
import { strict as assert } from "node:assert";
import { type MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import { composePeerAuthentication, modeForPort, namespaceMtlsMode, peerAuthenticationFor, peerAuthenticationsOf } from "../../src/model/peer-authentication.js";

const file = "/cfg/security.yaml";

function pa(name: string, namespace: string, spec: unknown, creationTimestamp?: string, apiVersion = "security.istio.io/v1"): ConfigObject {
  return {
    apiVersion,
    kind: "PeerAuthentication",
    metadata: { name, namespace, labels: {}, annotations: {}, ...(creationTimestamp ? { creationTimestamp } : {}) },
    spec,
    origin: { file },
  };
}

function build(objects: ConfigObject[], previous?: MeshSnapshot): MeshSnapshot {
  return buildSnapshot({ objects, errors: [] }, previous);
}

function rejects(spec: unknown, path: string, message: RegExp, apiVersion?: string): void {
  const s = build([pa("bad", "default", spec, undefined, apiVersion), pa("good", "default", { mtls: { mode: "STRICT" } })]);
  const errs = s.errors.filter((e) => e.object === "PeerAuthentication default/bad" && e.severity === "error");
  const hit = errs.find((e) => e.path === path);
  assert.ok(hit, `want an error at ${path}, got ${JSON.stringify(errs)}`);
  assert.equal(hit.file, file);
  assert.match(hit.message, message);
  assert.ok(!s.accepted.has("PeerAuthentication default/bad"), "the bad policy is rejected");
  assert.ok(s.accepted.has("PeerAuthentication default/good"), "the good policy stays");
}

describe("PeerAuthentication validation (istiod's messages, with file, object and field path)", () => {
  it("port-level mTLS on a mesh or namespace policy", () =>
    rejects({ mtls: { mode: "STRICT" }, portLevelMtls: { "8080": { mode: "DISABLE" } } }, "spec.portLevelMtls", /^mesh\/namespace peer authentication cannot have port level mTLS$/));
  it("an empty portLevelMtls", () =>
    rejects({ selector: { matchLabels: { app: "a" } }, portLevelMtls: {} }, "spec.portLevelMtls", /^port level mTLS, if defined, must have at least one element$/));
  it("port 0", () => rejects({ selector: { matchLabels: { app: "a" } }, portLevelMtls: { "0": { mode: "STRICT" } } }, "spec.portLevelMtls[0]", /^port cannot be 0$/));
  it("a port that is not a number or is out of range", () => {
    rejects({ selector: { matchLabels: { app: "a" } }, portLevelMtls: { http: { mode: "STRICT" } } }, "spec.portLevelMtls[http]", /not a port number/);
    rejects({ selector: { matchLabels: { app: "a" } }, portLevelMtls: { "70000": { mode: "STRICT" } } }, "spec.portLevelMtls[70000]", /not a port number/);
  });
  it("an unknown mode (modes are case-sensitive enums)", () => rejects({ mtls: { mode: "strict" } }, "spec.mtls.mode", /must be one of UNSET, DISABLE, PERMISSIVE, STRICT, got "strict"/));
  it("an unknown port-level mode", () =>
    rejects({ selector: { matchLabels: { app: "a" } }, portLevelMtls: { "80": { mode: "OFF" } } }, "spec.portLevelMtls[80].mode", /must be one of/));
  it("a wildcard in the selector", () => rejects({ selector: { matchLabels: { app: "web*" } } }, "spec.selector.matchLabels[app]", /^wildcard is not supported in selector: "app=web\*"$/));
  it("an empty selector key", () => rejects({ selector: { matchLabels: { "": "x" } } }, "spec.selector.matchLabels[]", /^empty key is not supported in selector/));
  it("a spec or mtls that is not a map", () => {
    rejects("STRICT", "spec", /must be a map/);
    rejects({ mtls: "STRICT" }, "spec.mtls", /must be a map/);
  });
  it("an apiVersion that is not security.istio.io v1 or v1beta1", () => rejects({}, "apiVersion", /is not a version of PeerAuthentication/, "networking.istio.io/v1"));
  it("a bad edit keeps the last good version", () => {
    const first = build([pa("ns", "default", { mtls: { mode: "STRICT" } })]);
    const second = build([pa("ns", "default", { mtls: { mode: "ON" } })], first);
    assert.equal(peerAuthenticationFor(second, { namespace: "default", labels: {} }).mode, "STRICT");
    assert.ok(second.errors.some((e) => e.object === "PeerAuthentication default/ns" && /keeping its last good version/.test(e.message)));
  });
  it("accepts v1beta1, an empty spec, and UNSET", () => {
    const s = build([pa("a", "default", null, undefined, "security.istio.io/v1beta1"), pa("b", "other", { mtls: { mode: "UNSET" } })]);
    assert.deepEqual(s.errors.filter((e) => e.severity === "error"), []);
    assert.equal(peerAuthenticationsOf(s).length, 2);
  });
});

describe("PeerAuthentication composition (ComposePeerAuthentication)", () => {
  const web = { namespace: "shop", labels: { app: "web" } };
  const compose = (objects: ConfigObject[], workload = web) => peerAuthenticationFor(build(objects), workload);

  it("defaults to PERMISSIVE", () => assert.equal(compose([]).mode, "PERMISSIVE"));
  it("mesh, then namespace, then workload override one another", () => {
    const mesh = pa("mesh", "istio-system", { mtls: { mode: "STRICT" } });
    const ns = pa("ns", "shop", { mtls: { mode: "DISABLE" } });
    const wl = pa("wl", "shop", { selector: { matchLabels: { app: "web" } }, mtls: { mode: "PERMISSIVE" } });
    assert.equal(compose([mesh]).mode, "STRICT");
    assert.equal(compose([mesh, ns]).mode, "DISABLE");
    assert.equal(compose([mesh, ns, wl]).mode, "PERMISSIVE");
    assert.equal(compose([mesh, ns, wl], { namespace: "shop", labels: { app: "db" } }).mode, "DISABLE", "the selector does not match");
    assert.equal(compose([mesh, ns, wl], { namespace: "other", labels: { app: "web" } }).mode, "STRICT", "other namespaces see the mesh policy");
  });
  it("UNSET inherits from the level above, at every level and port", () => {
    const mesh = pa("mesh", "istio-system", { mtls: { mode: "STRICT" } });
    const ns = pa("ns", "shop", { mtls: { mode: "UNSET" } });
    const wl = pa("wl", "shop", { selector: { matchLabels: { app: "web" } }, portLevelMtls: { "8080": { mode: "UNSET" }, "9090": { mode: "DISABLE" } } });
    const r = compose([mesh, ns, wl]);
    assert.equal(r.mode, "STRICT");
    assert.equal(modeForPort(r, 8080), "STRICT");
    assert.equal(modeForPort(r, 9090), "DISABLE");
    assert.equal(modeForPort(r, 7070), "STRICT", "ports without a setting take the workload mode");
  });
  it("the oldest policy wins within a level; a missing timestamp counts as oldest, then by name", () => {
    const newer = pa("a-newer", "shop", { mtls: { mode: "DISABLE" } }, "2026-03-01T00:00:00Z");
    const older = pa("z-older", "shop", { mtls: { mode: "STRICT" } }, "2026-01-01T00:00:00Z");
    assert.equal(compose([newer, older]).mode, "STRICT");
    const undated = pa("m-undated", "shop", { mtls: { mode: "PERMISSIVE" } });
    assert.equal(compose([newer, older, undated]).mode, "PERMISSIVE");
    const a = pa("a", "shop", { mtls: { mode: "DISABLE" } });
    const b = pa("b", "shop", { mtls: { mode: "STRICT" } });
    assert.equal(compose([b, a]).mode, "DISABLE", "same time: by namespace/name");
  });
  it("a selector policy in the root namespace is ignored (mesh-wide policies have no selector)", () => {
    const rootSelector = pa("root-wl", "istio-system", { selector: { matchLabels: { app: "web" } }, mtls: { mode: "DISABLE" } });
    assert.equal(compose([rootSelector]).mode, "PERMISSIVE");
  });
  it("honours a configured root namespace", () => {
    const r = composePeerAuthentication(
      [{ namespace: "mesh-root", name: "m", spec: { selector: {}, mode: "STRICT" } }],
      "mesh-root",
      web,
    );
    assert.equal(r.mode, "STRICT");
  });
  it("a client's view of a destination namespace: its own policy, else the mesh's (auto-mTLS)", () => {
    const s = build([pa("mesh", "istio-system", { mtls: { mode: "STRICT" } }), pa("legacy", "legacy", { mtls: { mode: "DISABLE" } }), pa("unset", "shop", { mtls: { mode: "UNSET" } })]);
    assert.equal(namespaceMtlsMode(s, "legacy"), "DISABLE");
    assert.equal(namespaceMtlsMode(s, "shop"), "STRICT");
    assert.equal(namespaceMtlsMode(build([]), "shop"), undefined);
  });
});
