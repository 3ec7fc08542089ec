// Path-based authorization cannot be bypassed with `/x/../admin`, `%2e`-encoded dots or `//admin`:
// every HTTP connection manager of an Envoy sidecar normalises the path before RBAC and routing,
// as MeshConfig `pathNormalization` asks (istiod's buildHTTPConnectionManager), and a bad value is
// rejected with its field path while the last good mesh config keeps serving.
import { strict as assert } from "node:assert";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { type ConfigSet, type MeshSnapshot } from "../../src/model/snapshot.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import type { ConfigObject } from "../../src/model/config.js";
import { parseProxyNode } from "../../src/model/proxy.js";
import { dumpResources } from "../../src/translate/dump.js";

const file = "/cfg/objects.yaml";
const hcmType = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

function obj(kind: string, name: string, spec: unknown, apiVersion: string): ConfigObject {
  return { apiVersion, kind, metadata: { name, namespace: "default", labels: {}, annotations: {} }, spec, origin: { file } };
}

const objects: ConfigObject[] = [
  obj(
    "ServiceEntry",
    "reviews",
    {
      hosts: ["reviews.default.svc.cluster.local"],
      addresses: ["240.240.0.10"],
      ports: [{ number: 9080, name: "http", protocol: "HTTP" }],
      resolution: "STATIC",
      endpoints: [{ address: "127.0.0.11", labels: { app: "reviews" }, serviceAccount: "reviews" }],
    },
    "networking.istio.io/v1",
  ),
  obj("AuthorizationPolicy", "no-admin", { selector: { matchLabels: { app: "reviews" } }, action: "DENY", rules: [{ to: [{ operation: { paths: ["/admin"] } }] }] }, "security.istio.io/v1"),
];

const proxy = parseProxyNode({ id: "sidecar~127.0.0.11~reviews-0.default~default.svc.cluster.local", metadata: { NAMESPACE: "default", SERVICE_ACCOUNT: "reviews", LABELS: { app: "reviews" } } });

function snapshot(mesh: unknown, previous?: MeshSnapshot): MeshSnapshot {
  const set: ConfigSet = { objects, errors: [], mesh: { doc: mesh, file: "/cfg/mesh.yaml" } };
  return buildSnapshot(set, previous);
}

/** Every HTTP connection manager in the sidecar's listeners, with where it sits. */
function connectionManagers(s: MeshSnapshot): { at: string; hcm: JsonObject }[] {
  const out: { at: string; hcm: JsonObject }[] = [];
  const walk = (v: JsonValue, at: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`));
    else if (typeof v === "object" && v !== null) {
      if (v["@type"] === hcmType) out.push({ at, hcm: v });
      for (const [k, x] of Object.entries(v)) walk(x, `${at}.${k}`);
    }
  };
  for (const l of dumpResources(s, proxy)["listeners"] ?? []) walk(l, String((l as JsonObject)["name"]));
  return out;
}

describe("path normalisation on sidecar HTTP connection managers", () => {
  it("normalises dot segments and percent-encoded characters on every HTTP chain by default, so /x/../admin and /%61dmin meet the /admin deny", () => {
    const hcms = connectionManagers(snapshot({}));
    // inbound 9080 (mTLS and plaintext), the passthrough catch-all HTTP chains, outbound 0.0.0.0_9080
    assert.ok(hcms.length >= 3, `found ${hcms.length} connection managers`);
    assert.ok(hcms.some((h) => h.at.startsWith("virtualInbound")) && hcms.some((h) => h.at.startsWith("0.0.0.0_9080")));
    for (const { at, hcm } of hcms) {
      assert.equal(hcm["normalizePath"], true, `${at}: normalize_path`);
      assert.equal(hcm["pathWithEscapedSlashesAction"], "KEEP_UNCHANGED", `${at}: escaped slashes kept as istiod does`);
      assert.equal(hcm["mergeSlashes"], undefined, `${at}: merge_slashes only on request`);
    }
    // The deny rule the normalised path meets is on the inbound chains.
    assert.ok(JSON.stringify(hcms.filter((h) => h.at.startsWith("virtualInbound")).map((h) => h.hcm)).includes('"/admin"'));
  });

  it("merges slashes under MERGE_SLASHES, so //admin meets the /admin deny too", () => {
    for (const { at, hcm } of connectionManagers(snapshot({ pathNormalization: { normalization: "MERGE_SLASHES" } }))) {
      assert.equal(hcm["normalizePath"], true, at);
      assert.equal(hcm["mergeSlashes"], true, at);
      assert.equal(hcm["pathWithEscapedSlashesAction"], "KEEP_UNCHANGED", at);
    }
  });

  it("also decodes %2F under DECODE_AND_MERGE_SLASHES and turns normalisation off only under NONE", () => {
    for (const { at, hcm } of connectionManagers(snapshot({ pathNormalization: { normalization: "DECODE_AND_MERGE_SLASHES" } }))) {
      assert.equal(hcm["mergeSlashes"], true, at);
      assert.equal(hcm["pathWithEscapedSlashesAction"], "UNESCAPE_AND_FORWARD", at);
    }
    const none = connectionManagers(snapshot({ pathNormalization: { normalization: "NONE" } }));
    assert.ok(none.length > 0);
    for (const { at, hcm } of none) assert.equal(hcm["normalizePath"], false, at);
  });

  it("rejects an unknown normalization naming mesh.yaml and the field, and keeps normalising with the last good config", () => {
    const good = snapshot({ pathNormalization: { normalization: "MERGE_SLASHES" } });
    const bad = snapshot({ pathNormalization: { normalization: "LOOSE" } }, good);
    const err = bad.errors.find((e) => e.file === "/cfg/mesh.yaml" && e.path === "pathNormalization.normalization");
    assert.ok(err, JSON.stringify(bad.errors));
    assert.match(err.message, /LOOSE/);
    for (const { at, hcm } of connectionManagers(bad)) assert.equal(hcm["mergeSlashes"], true, at);
  });
});
