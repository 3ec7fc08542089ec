// VirtualService semantics beyond the golden case, checked on the route IR and the planned
// resources: which VirtualService wins a host (istiod's order: the proxy's own namespace's private
// ones, then exported, then public; oldest first; the most specific wildcard), delegation
// (conflicting and missing delegates), sourceLabels (routes and the outbound cache key follow the
// proxy's labels), and cache keys (a VirtualService edit re-keys routes and nothing else).
import { strict as assert } from "node:assert";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import { parseProxyNode, type Proxy } from "../../src/model/proxy.js";
import type { MeshSnapshot } from "../../src/model/snapshot.js";
import { sidecarRouteTables } from "../../src/ir/routes.js";
import type { HttpRoute, RouteTable } from "../../src/ir/types.js";
import { outboundKey, translate } from "../../src/translate/index.js";
import { TypeUrl } from "../../src/xds/types.js";

function obj(kind: string, name: string, namespace: string, spec: unknown, creationTimestamp = "2026-01-01T00:00:00Z"): ConfigObject {
  return { apiVersion: "networking.istio.io/v1", kind, metadata: { name, namespace, labels: {}, annotations: {}, creationTimestamp }, spec, origin: { file: "/cfg/objects.yaml" } };
}

const svc = (name: string, namespace = "default", host = `${name}.${namespace}.svc.cluster.local`): ConfigObject =>
  obj("ServiceEntry", name, namespace, { hosts: [host], ports: [{ number: 80, name: "http", protocol: "HTTP" }], resolution: "STATIC", endpoints: [{ address: "10.0.0.1" }] });

/** A VirtualService sending everything for `hosts` to `target`'s subset `subset` (the route name says which VirtualService won). */
const vs = (name: string, namespace: string, hosts: string[], extra: Record<string, unknown> = {}, created?: string): ConfigObject =>
  obj("VirtualService", name, namespace, { hosts, http: [{ name, route: [{ destination: { host: "reviews.default.svc.cluster.local" } }] }], ...extra }, created);

function proxy(labels: Record<string, string> = { app: "client" }, namespace = "default"): Proxy {
  return parseProxyNode({ id: `sidecar~127.0.0.50~client-0.${namespace}~${namespace}.svc.cluster.local`, metadata: { NAMESPACE: namespace, SERVICE_ACCOUNT: "client", LABELS: labels } });
}

function snapshot(...objects: ConfigObject[]): MeshSnapshot {
  const s = buildSnapshot({ objects, errors: [] });
  assert.deepEqual(s.errors.filter((e) => e.severity === "error"), []);
  return s;
}

function table(s: MeshSnapshot, p: Proxy, name = "80"): RouteTable {
  const t = sidecarRouteTables({ snapshot: s, proxy: p }).find((x) => x.name === name);
  assert.ok(t, `route table ${name}`);
  return t.ir();
}

/** The route names of a host's virtual host on port 80. */
function routesOf(s: MeshSnapshot, p: Proxy, host: string): (string | undefined)[] {
  const vh = table(s, p).virtualHosts.find((v) => v.name === `${host}:80`);
  assert.ok(vh, `virtual host ${host}:80`);
  return vh.routes.map((r: HttpRoute) => r.name);
}

const reviews = "reviews.default.svc.cluster.local";

describe("VirtualService precedence, delegation, sourceLabels and cache keys", () => {
  it("the proxy's own namespace's private VirtualService wins a host over an older public one elsewhere", () => {
    const s = snapshot(svc("reviews"), vs("public", "other", [reviews], {}, "2020-01-01T00:00:00Z"), vs("private", "default", [reviews], { exportTo: ["."] }));
    assert.deepEqual(routesOf(s, proxy(), reviews), ["private"]);
    // A proxy in another namespace does not see the private one.
    assert.deepEqual(routesOf(s, proxy({}, "third"), reviews), ["public"]);
  });

  it("among public VirtualServices for one host the oldest wins, then the first by name", () => {
    const newer = vs("a-newer", "default", [reviews], {}, "2026-06-01T00:00:00Z");
    const older = vs("z-older", "default", [reviews], {}, "2026-01-01T00:00:00Z");
    assert.deepEqual(routesOf(snapshot(svc("reviews"), newer, older), proxy(), reviews), ["z-older"]);
    const tie = [vs("b", "default", [reviews]), vs("a", "default", [reviews])];
    assert.deepEqual(routesOf(snapshot(svc("reviews"), ...tie), proxy(), reviews), ["a"]);
  });

  it("a service is claimed by the most specific wildcard host; a host no service has gets a virtual host of its own", () => {
    const s = snapshot(svc("api", "default", "api.internal.example.com"), vs("broad", "default", ["*.example.com"]), vs("narrow", "default", ["*.internal.example.com", "legacy.example.org"]));
    assert.deepEqual(routesOf(s, proxy(), "api.internal.example.com"), ["narrow"]);
    assert.deepEqual(routesOf(s, proxy(), "legacy.example.org"), ["narrow"]);
  });

  it("a delegate's routes merge under the root's match; a conflicting delegate match and a missing delegate drop only their routes", () => {
    const root = obj("VirtualService", "root", "default", {
      hosts: [reviews],
      http: [
        { name: "api", match: [{ uri: { prefix: "/api" } }], delegate: { name: "api" } },
        { name: "gone", match: [{ uri: { prefix: "/gone" } }], delegate: { name: "missing" } },
        { name: "rest", route: [{ destination: { host: reviews } }] },
      ],
    });
    const delegate = obj("VirtualService", "api", "default", {
      http: [
        { name: "v1", match: [{ uri: { prefix: "/api/v1" } }], route: [{ destination: { host: reviews } }] },
        { name: "elsewhere", match: [{ uri: { prefix: "/other" } }], route: [{ destination: { host: reviews } }] },
      ],
    });
    const vh = table(snapshot(svc("reviews"), root, delegate), proxy()).virtualHosts.find((v) => v.name === `${reviews}:80`)!;
    assert.deepEqual(vh.routes.map((r) => [r.name, r.match.path.value]), [["api-v1", "/api/v1"], ["rest", "/"]]);
  });

  it("sourceLabels routes follow the proxy's labels, and so does the outbound cache key (only while some VirtualService reads labels)", () => {
    const canary = obj("VirtualService", "reviews", "default", {
      hosts: [reviews],
      http: [
        { name: "canary", match: [{ sourceLabels: { track: "canary" } }], route: [{ destination: { host: reviews } }] },
        { name: "rest", route: [{ destination: { host: reviews } }] },
      ],
    });
    const s = snapshot(svc("reviews"), canary);
    const canaryProxy = proxy({ app: "client", track: "canary" });
    const stableProxy = proxy({ app: "client", track: "stable" });
    // The canary route matches everything from a canary proxy: istiod stops after such a catch-all.
    assert.deepEqual(routesOf(s, canaryProxy, reviews), ["canary"]);
    assert.deepEqual(routesOf(s, stableProxy, reviews), ["rest"]);
    assert.notEqual(outboundKey(canaryProxy, s), outboundKey(stableProxy, s));
    // Labels no sourceLabels reads do not split the key; nor does anything without such a VirtualService.
    assert.equal(outboundKey(stableProxy, s), outboundKey(proxy({ app: "other", track: "stable" }), s));
    const plain = snapshot(svc("reviews"), vs("reviews", "default", [reviews]));
    assert.equal(outboundKey(canaryProxy, plain), outboundKey(stableProxy, plain));
  });

  it("a VirtualService edit re-keys the route tables and no other resource", () => {
    const keys = (s: MeshSnapshot): Map<string, string> => {
      const out = new Map<string, string>();
      for (const [t, list] of translate(s, proxy())) for (const r of list) out.set(`${t} ${r.name}`, r.key);
      return out;
    };
    const before = keys(snapshot(svc("reviews"), vs("one", "default", [reviews])));
    const after = keys(snapshot(svc("reviews"), vs("two", "default", [reviews])));
    const changed = [...before.keys()].filter((k) => before.get(k) !== after.get(k));
    assert.ok(changed.length > 0);
    assert.deepEqual(changed.filter((k) => !k.startsWith(TypeUrl.RouteConfiguration)), []);
  });

  it("a VirtualService whose port or gateways do not match leaves the service its default route", () => {
    const s = snapshot(
      svc("reviews"),
      obj("VirtualService", "reviews", "default", {
        hosts: [reviews],
        http: [
          { name: "port", match: [{ port: 9999 }], route: [{ destination: { host: reviews } }] },
          { name: "gateway", match: [{ gateways: ["ingress"] }], route: [{ destination: { host: reviews } }] },
        ],
      }),
    );
    assert.deepEqual(routesOf(s, proxy(), reviews), ["default"]);
  });
});
