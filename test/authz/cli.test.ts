// `meshward x authz` as a user runs it: the real binary, temporary files, stdout/stderr/exit code.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runMeshward } from "../support/meshward-cli.js";

describe("meshward x authz (CLI)", () => {
  let dir = "";
  before(() => (dir = mkdtempSync(path.join(tmpdir(), "meshward-authz-cli-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it("prints the filters of a multi-document file, ignoring other kinds", async () => {
    const f = file("mixed.yaml", `apiVersion: v1
kind: Service
metadata: {name: web, namespace: foo}
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: only-ns, namespace: foo}
spec:
  selector: {matchLabels: {app: web}}
  rules:
  - from: [{source: {namespaces: [frontend]}}]
`);
    const r = await runMeshward("x", "authz", "--namespace", "foo", "--labels", "app=web", "--chain=tcp", f);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { name: string; typedConfig: Record<string, unknown> }[];
    assert.equal(out.length, 1);
    assert.equal(out[0]?.name, "envoy.filters.network.rbac");
    assert.equal(out[0]?.typedConfig["@type"], "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC");
    assert.match(r.stdout, /ns\[foo\]-policy\[only-ns\]-rule\[0\]/);
  });

  it("a workload the policy does not select gets an empty array", async () => {
    const f = file("sel.yaml", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: foo}\nspec: {selector: {matchLabels: {app: api}}, rules: [{}]}\n");
    const r = await runMeshward("x", "authz", "--namespace", "foo", "--labels", "app=web", f);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
  });

  it("an invalid policy: stderr names file, object and field path; exit status 1; the rest still printed", async () => {
    const f = file("bad.yaml", `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: good, namespace: foo}
spec: {rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bad, namespace: foo}
spec:
  action: DENY
  rules:
  - to: [{operation: {ports: ["99999"]}}]
`);
    const r = await runMeshward("x", "authz", "--namespace", "foo", f);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`error: ${f}: AuthorizationPolicy foo/bad: spec.rules[0].to[0].operation.ports[0]: bad port (99999)`), r.stderr);
    const out = JSON.parse(r.stdout) as unknown[];
    assert.equal(out.length, 1, "the good ALLOW policy is still translated");
  });

  it("warnings go to stderr and keep exit status 0", async () => {
    const f = file("warn.yaml", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: w, namespace: foo}\nspec: {action: DENY, rules: [{to: [{operation: {methods: [POST]}}]}]}\n");
    const r = await runMeshward("x", "authz", "--namespace", "foo", "--chain", "tcp", f);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /^warning: .*deny all traffic to TCP ports/m);
  });

  it("bad flags, unreadable files and bad YAML fail with a message", async () => {
    const noNs = await runMeshward("x", "authz", "some.yaml");
    assert.equal(noNs.code, 2);
    assert.match(noNs.stderr, /--namespace is required/);
    assert.match((await runMeshward("x", "authz", "--namespace", "foo", "--chain", "udp")).stderr, /--chain must be http, tcp or grpc/);
    const missing = await runMeshward("x", "authz", "--namespace", "foo", path.join(dir, "nope.yaml"));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.yaml: cannot read/);
    const broken = await runMeshward("x", "authz", "--namespace", "foo", file("broken.yaml", "kind: [unclosed\n"));
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /broken\.yaml: cannot read: Flow sequence/);
    const mesh = await runMeshward("x", "authz", "--namespace", "foo", "--mesh", file("mesh.yaml", "trustDomainAliases: notalist\n"));
    assert.equal(mesh.code, 1);
    assert.match(mesh.stderr, /mesh\.yaml: MeshConfig: trustDomainAliases: must be a list/);
    assert.equal((await runMeshward("x", "nosuchtool")).code, 2);
  });

  it("--chain grpc prints the proxyless flavour; --mesh sets the root namespace", async () => {
    const f = file("grpc.yaml", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-all, namespace: mesh-root}\nspec: {action: DENY, rules: [{}]}\n");
    const mesh = file("root.yaml", "rootNamespace: mesh-root\ntrustDomain: example.org\n");
    const r = await runMeshward("x", "authz", "--namespace", "foo", "--chain", "grpc", "--mesh", mesh, f);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { name: string }[];
    assert.deepEqual(out.map((x) => x.name), ["envoy.filters.http.rbac.DENY"]);
    assert.match(r.stdout, /mesh-root-deny-all-0/);
  });
});
