// A policy change reaches exactly the proxies it selects: snapshotChange scoping for
// AuthorizationPolicy edits, and the model's admission of the kind.
import assert from "node:assert/strict";
import type { ConfigObject } from "../../src/model/config.js";
import { type MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { snapshotChange } from "../../src/model/changes.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import { authzInputFor, snapshotPolicies } from "../../src/authz/mesh-input.js";
import { authzHttpFilters } from "../../src/authz/filters.js";
import { configObject } from "./helpers.js";
import { fileURLToPath } from "node:url";
import { toBinary, type JsonObject } from "@bufbuild/protobuf";
import { readConfigFiles } from "../../src/sources/file.js";
import { translate } from "../../src/translate/index.js";
import { TypeUrl } from "../../src/xds/types.js";
import { expectEnvoyValidResources } from "../support/envoy-valid.js";

function proxy(namespace: string, labels: Record<string, string>, ip = "10.0.0.1"): Proxy {
  return parseProxyNode({ id: `sidecar~${ip}~pod.${namespace}~${namespace}.svc.cluster.local`, metadata: { NAMESPACE: namespace, LABELS: labels } });
}

const ap = (name: string, namespace: string, spec: unknown): ConfigObject => configObject(spec, { name, namespace, file: "authz.yaml" });
const snapshot = (objects: ConfigObject[], previous?: MeshSnapshot): MeshSnapshot => buildSnapshot({ objects, errors: [] }, previous);

describe("authz in the mesh model", () => {
  const webFoo = proxy("foo", { app: "web" });
  const apiFoo = proxy("foo", { app: "api" });
  const webBar = proxy("bar", { app: "web" });

  it("a new workload policy touches only the proxies it selects", () => {
    const prev = snapshot([]);
    const next = snapshot([ap("p", "foo", { selector: { matchLabels: { app: "web" } }, rules: [{}] })], prev);
    const change = snapshotChange(prev, next);
    assert.ok(change !== undefined && !change.all);
    assert.equal(change.affects(webFoo), true);
    assert.equal(change.affects(apiFoo), false);
    assert.equal(change.affects(webBar), false);
  });

  it("a root-namespace policy touches matching proxies in every namespace", () => {
    const prev = snapshot([]);
    const next = snapshot([ap("mesh", "istio-system", { selector: { matchLabels: { app: "web" } }, rules: [{}] })], prev);
    const change = snapshotChange(prev, next);
    assert.ok(change !== undefined && !change.all);
    assert.equal(change.affects(webFoo), true);
    assert.equal(change.affects(webBar), true);
    assert.equal(change.affects(apiFoo), false);
  });

  it("an edited selector touches the proxies of the old and the new version; an unchanged policy nobody", () => {
    const s1 = snapshot([ap("p", "foo", { selector: { matchLabels: { app: "web" } }, rules: [{}] })]);
    const s2 = snapshot([ap("p", "foo", { selector: { matchLabels: { app: "api" } }, rules: [{}] })], s1);
    const change = snapshotChange(s1, s2);
    assert.ok(change !== undefined && !change.all);
    assert.equal(change.affects(webFoo), true);
    assert.equal(change.affects(apiFoo), true);
    assert.equal(change.affects(webBar), false);
    assert.equal(snapshotChange(s2, snapshot([ap("p", "foo", { selector: { matchLabels: { app: "api" } }, rules: [{}] })], s2)), undefined);
  });

  it("other uninterpreted kinds still touch everyone", () => {
    const other: ConfigObject = { ...ap("x", "foo", {}), apiVersion: "security.istio.io/v1", kind: "PeerAuthentication" };
    const prev = snapshot([]);
    assert.deepEqual(snapshotChange(prev, snapshot([other], prev)), { all: true });
  });

  it("a rejected edit keeps the last good policy, reported with file, object and path", () => {
    const good = snapshot([ap("guard", "foo", { action: "DENY", rules: [{}] })]);
    const bad = snapshot([ap("guard", "foo", { action: "DENY", rules: [{ to: [{ operation: { ports: ["http"] } }] }] })], good);
    assert.deepEqual(snapshotPolicies(bad).map((p) => p.spec.rules), [[{}]]);
    assert.ok(bad.errors.some((e) => e.file === "authz.yaml" && e.object === "AuthorizationPolicy foo/guard" && e.path === "spec.rules[0].to[0].operation.ports[0]"));
    const [deny] = authzHttpFilters(authzInputFor(bad, webFoo)).filters;
    assert.ok(deny !== undefined, "the last good DENY is still translated");
  });

  it("the listeners both proxy kinds get with policies pass Envoy's validation rules", () => {
    const file = fileURLToPath(new URL("../../../test/golden/in/authz.yaml", import.meta.url));
    const snap = buildSnapshot(readConfigFiles([file]));
    const nodes: { id: string; metadata: JsonObject }[] = [
      { id: "sidecar~127.0.0.11~reviews-v1.default~default.svc.cluster.local", metadata: { NAMESPACE: "default", LABELS: { app: "reviews", version: "v1" } } },
      { id: "sidecar~127.0.0.13~ratings-0.default~default.svc.cluster.local", metadata: { NAMESPACE: "default", GENERATOR: "grpc", LABELS: { app: "ratings" } } },
    ];
    for (const node of nodes) {
      const listeners = translate(snap, parseProxyNode(node)).get(TypeUrl.Listener) ?? [];
      const encoded = listeners.map((l) => {
        const { schema, message } = l.build();
        return { typeUrl: TypeUrl.Listener, name: l.name, version: "", bytes: toBinary(schema, message) };
      });
      assert.ok(encoded.some((e) => Buffer.from(e.bytes).includes("envoy.filters.http.rbac")), `${node.id} got RBAC filters`);
      expectEnvoyValidResources(encoded, { strictAny: true });
    }
  });
});
