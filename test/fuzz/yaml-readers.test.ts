// Property-based fuzzing of the YAML readers (issue 15 item 9): the file source
// (readConfigFiles) and the model (buildSnapshot, every kind's spec reader). Config files are
// written by people and by tools; whatever a file holds (arbitrary text, arbitrary YAML values,
// objects of every kind with specs assembled from the fields meshward reads, mutations of the
// embedded mesh-config) reading must never throw, and every problem must name its file, and
// for an object the object and the field path, so the last good config keeps serving.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { stringify as stringifyYaml } from "yaml";
import { readConfigFiles } from "../../src/sources/file.js";
import { buildSnapshot, meshKinds } from "../../src/mesh/model.js";
import type { ConfigError } from "../../src/model/config.js";
import { fuzzParameters } from "./settings.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const OBJECT_REF = /^[^ ]+ [^/]+\/.+$/;

/** Field names the spec readers look at, so generated specs reach past the first check. */
const FIELDS = [
  "action", "address", "addresses", "connectionPool", "consistentHash", "endpoints", "exportTo", "host", "hosts", "labels",
  "loadBalancer", "locality", "location", "matchLabels", "mode", "mtls", "name", "network", "number", "outlierDetection",
  "portLevelSettings", "portLevelMtls", "ports", "protocol", "resolution", "selector", "serviceAccount", "simple", "subjectAltNames",
  "subsets", "targetPort", "tls", "trafficPolicy", "weight", "workloadSelector", "rules", "from", "to", "when", "source",
  "operation", "principals", "notPrincipals", "namespaces", "notNamespaces", "serviceAccounts", "trustDomains", "ipBlocks",
  "remoteIpBlocks", "requestPrincipals", "methods", "paths", "notPaths", "key", "values", "notValues", "provider", "targetRef",
  "targetRefs", "trigger", "detections", "minSeverity", "minRiskScore", "quarantine", "duration", "scope", "identity", "pod", "ips",
  "revoke", "alert", "kind", "group", "port", "ttl", "credentialName", "caCertificates", "sni",
];
const WORDS = [
  "STRICT", "PERMISSIVE", "DISABLE", "UNSET", "ALLOW", "DENY", "AUDIT", "CUSTOM", "ISTIO_MUTUAL", "MUTUAL", "SIMPLE", "STATIC",
  "DNS", "NONE", "MESH_INTERNAL", "MESH_EXTERNAL", "HTTP", "GRPC", "TCP", "*", "10.0.0.1", "10.0.0.0/8", "::1", "not-an-ip",
  "cluster.local/ns/a/sa/b", "a.example.com", "*.example.com", "/admin/*", "GET", "source.ip", "request.headers[x]", "80", "-1",
  "65536", "1h", "30s", "",
];

const scalar: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...WORDS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 10 }) },
  { weight: 2, arbitrary: fc.integer({ min: -2, max: 70000 }) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom(true, false, null) },
);
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 4, arbitrary: scalar },
    { weight: 2, arbitrary: fc.array(tie("v"), { maxLength: 3 }) },
    { weight: 3, arbitrary: fc.dictionary(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...FIELDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) }), tie("v"), { maxKeys: 4 }) },
  ),
})).v;

const kinds = meshKinds();
const KINDS = kinds.names();
const objectArb = fc.record({
  kind: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...KINDS) }, { weight: 1, arbitrary: fc.constantFrom("Unknown", "", "Sidecar") }),
  version: fc.oneof({ weight: 8, arbitrary: fc.constant("good") }, { weight: 1, arbitrary: fc.constantFrom("v9", "") }),
  name: fc.oneof({ weight: 6, arbitrary: fc.constantFrom("a", "b") }, { weight: 1, arbitrary: fc.constantFrom("", "x y") }, { weight: 1, arbitrary: scalar }),
  namespace: fc.oneof({ weight: 6, arbitrary: fc.constantFrom("default", "foo") }, { weight: 1, arbitrary: scalar }),
  labels: fc.option(fc.dictionary(fc.constantFrom("app", "version"), scalar, { maxKeys: 2 })),
  spec: fc.oneof({ weight: 6, arbitrary: fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 5 }) }, { weight: 1, arbitrary: value }),
}).map((o) => ({
  apiVersion: o.version === "good" ? (kinds.get(o.kind)?.apiVersions[0] ?? "example.com/v1") : o.version,
  kind: o.kind,
  metadata: { name: o.name, namespace: o.namespace, ...(o.labels !== null ? { labels: o.labels } : {}) },
  spec: o.spec,
}));

describe("fuzz: YAML readers (file source and model)", function () {
  this.timeout(120_000);
  let dir = "";
  let n = 0;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), "meshward-fuzz-yaml-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  function writeCase(text: string, ext = "yaml"): string {
    const file = path.join(dir, `case-${++n}.${ext}`);
    writeFileSync(file, text);
    return file;
  }

  /** Reads `file` as config (and `meshFile` as MeshConfig) into a snapshot; returns every error. */
  function read(files: string[], meshFile?: string): ConfigError[] {
    const set = readConfigFiles(files, meshFile);
    const snapshot = buildSnapshot(set);
    for (const e of snapshot.errors) {
      assert.ok(files.includes(e.file) || e.file === meshFile, `error names no file of this read: ${JSON.stringify(e)}`);
      assert.ok(e.message.length > 0, `error without a message: ${JSON.stringify(e)}`);
      assert.ok(e.severity === "error" || e.severity === "warning");
      if (e.object !== undefined && e.object !== "MeshConfig") assert.match(e.object, OBJECT_REF, `object named oddly: ${JSON.stringify(e)}`);
    }
    return [...snapshot.errors];
  }

  it("arbitrary text never makes a reader throw, and every error names the file", () => {
    const yamlish = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.array(fc.constantFrom("---\n", "kind: ", "spec:\n", "  - ", "{", "}", "[", "]", ": ", "&a ", "*a ", "!!binary ", "? ", "|\n", "\t", "'", '"', "\n", "name", "metadata:\n  name: x\n"), { maxLength: 40 }).map((xs) => xs.join("")),
    );
    fc.assert(
      fc.property(yamlish, (text) => {
        read([writeCase(text)]);
        read([], writeCase(text));
      }),
      fuzzParameters(400, 20),
    );
  });

  it("arbitrary YAML values as documents never make a reader throw", () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 3 }), (docs) => {
        const text = docs.map((d) => stringifyYaml(d)).join("---\n");
        read([writeCase(text)]);
        read([], writeCase(stringifyYaml(docs[0])));
      }),
      fuzzParameters(300, 20),
    );
  });

  it("objects of every kind with generated specs are accepted or rejected with file, object and field path", () => {
    fc.assert(
      fc.property(fc.array(objectArb, { minLength: 1, maxLength: 4 }), (objects) => {
        const file = writeCase(objects.map((o) => stringifyYaml(o)).join("---\n"));
        const errors = read([file]);
        for (const e of errors) {
          if (e.object === undefined || e.severity !== "error") continue;
          // Every rejection of a known kind carries, besides the summary, one error at a field path.
          if (e.path === "" && /^object rejected/.test(e.message)) {
            const specific = errors.filter((x) => x.object === e.object && x.severity === "error" && x.path !== "");
            assert.ok(specific.length > 0, `${e.object} rejected without a field path: ${JSON.stringify(errors)}`);
          } else {
            assert.match(e.path, /^(spec|apiVersion|kind|metadata)\b/, `error path not rooted in the object: ${JSON.stringify(e)}`);
          }
        }
      }),
      fuzzParameters(600, 30),
    );
  });

  it("the embedded mesh-config, mutated line by line, never makes a reader throw", () => {
    const files = ["mesh-config/bookinfo.yaml", "mesh-config/mesh.yaml"].map((f) => readFileSync(path.join(repoRoot, f), "utf8"));
    const mutation = fc.record({
      file: fc.nat({ max: 1 }),
      line: fc.nat(),
      op: fc.constantFrom("delete", "duplicate", "dedent", "indent", "blank-value", "swap-value"),
      word: fc.constantFrom(...WORDS),
    });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 5 }), (ms) => {
        const texts = files.map((t) => t.split("\n"));
        for (const m of ms) {
          const lines = texts[m.file]!;
          const i = m.line % lines.length;
          const l = lines[i]!;
          if (m.op === "delete") lines.splice(i, 1);
          else if (m.op === "duplicate") lines.splice(i, 0, l);
          else if (m.op === "dedent") lines[i] = l.replace(/^ {2}/, "");
          else if (m.op === "indent") lines[i] = `  ${l}`;
          else if (m.op === "blank-value") lines[i] = l.replace(/:\s.*$/, ":");
          else lines[i] = l.replace(/:\s.*$/, `: ${JSON.stringify(m.word)}`);
        }
        read([writeCase(texts[0]!.join("\n"))], writeCase(texts[1]!.join("\n")));
      }),
      fuzzParameters(300, 20),
    );
  });

  // Regressions the fuzzers found.
  it("names no object for a document whose name or namespace is empty or not a DNS-1123 name", () => {
    for (const md of ["{name: '', namespace: default}", "{name: a, namespace: ''}", "{name: a, namespace: /admin/*}", "{name: 'x y', namespace: default}"]) {
      const errors = read([writeCase(`apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: ${md}\nspec: {hosts: [a.example.com]}\n`)]);
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.equal(errors[0]!.object, undefined, JSON.stringify(errors[0]));
      assert.match(errors[0]!.path, /^metadata\.(name|namespace)$/);
    }
  });

  it("reports `host: null` in a DestinationRule as a missing required field", () => {
    const errors = read([writeCase("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a, namespace: default}\nspec: {host: null}\n")]);
    assert.ok(errors.some((e) => e.object === "DestinationRule default/a" && e.path === "spec.host" && e.message === "is required"), JSON.stringify(errors));
  });

  it("reports a mapping key that is not a string as a file error with its line (found by fuzzing: was a Node warning)", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      const file = writeCase("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a, namespace: default}\nspec:\n  ? [a]\n  : b\n");
      const errors = read([file]);
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.equal(errors[0]!.file, file);
      assert.match(errors[0]!.message, /keys must be strings at line 5/);
      await new Promise((resolve) => setImmediate(resolve)); // process warnings are emitted on the next tick
    } finally {
      process.off("warning", onWarning);
    }
    assert.deepEqual(warnings, []);
  });
});
