// Reading remote-cluster Secrets is a trust decision: the control plane will call the apiserver
// they name with the credentials they hold. Istio's format is read (a cluster id per key, base64 or
// stringData); a kubeconfig that would run a program or read a file of the control plane's host is
// refused, as is a key naming the control plane's own cluster, each naming the Secret and field.
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { readRemoteSecret } from "../../src/multicluster/remote-secret.js";

const kubeconfig = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string =>
  stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "b", cluster: { server: "https://192.0.2.7:6443", "certificate-authority-data": Buffer.from("not checked here").toString("base64"), ...cluster } }],
    contexts: [{ name: "b", context: { cluster: "b", user: "b" } }],
    "current-context": "b",
    users: [{ name: "b", user }],
  });
const secret = (data: Record<string, string>, stringData: Record<string, string> = {}) => ({
  metadata: { name: "istio-remote-secret-b", namespace: "istio-system", labels: { "istio/multiCluster": "true" } },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
  stringData,
});

describe("remote-cluster Secrets", () => {
  it("reads a cluster per key, from data (base64) or stringData, with the server to reach", () => {
    const r = readRemoteSecret(secret({ "cluster-b": kubeconfig({ token: "t" }) }, { "cluster-c": kubeconfig({ token: "u" }) }), "cluster-a");
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.clusters.map((c) => [c.clusterId, c.kubeConfig.getCurrentCluster()?.server, c.from]), [
      ["cluster-b", "https://192.0.2.7:6443", "Secret istio-system/istio-remote-secret-b key cluster-b"],
      ["cluster-c", "https://192.0.2.7:6443", "Secret istio-system/istio-remote-secret-b key cluster-c"],
    ]);
  });

  it("refuses a kubeconfig that would run a program or read the control plane's files, naming the field", () => {
    const r = readRemoteSecret(
      secret({
        exec: kubeconfig({ exec: { command: "/bin/sh", args: ["-c", "id"], apiVersion: "client.authentication.k8s.io/v1" } }),
        provider: kubeconfig({ "auth-provider": { name: "gcp" } }),
        keyfile: kubeconfig({ "client-key": "/etc/meshward/ca/ca-key.pem", "client-certificate": "/x" }),
        cafile: kubeconfig({ token: "t" }, { "certificate-authority": "/etc/shadow" }),
        tokenfile: kubeconfig({ tokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token" }),
      }),
      "cluster-a",
    );
    assert.deepEqual(r.clusters, []);
    const byKey = Object.fromEntries(r.errors.map((e) => [/data\.(\w+)/.exec(e)![1], e]));
    assert.match(byKey["exec"]!, /Secret istio-system\/istio-remote-secret-b: data\.exec: users\[0\]\.user\.exec: exec credential plugins are not allowed/);
    assert.match(byKey["provider"]!, /users\[0\]\.user\.auth-provider/);
    assert.match(byKey["keyfile"]!, /users\[0\]\.user\.client-(key|certificate): a file on the control plane's host/);
    assert.match(byKey["cafile"]!, /clusters\[0\]\.cluster\.certificate-authority: a file/);
    assert.match(byKey["tokenfile"]!, /users\[0\]\.user\.tokenFile/);
  });

  it("ignores its own cluster and refuses what is not a cluster id or a kubeconfig", () => {
    const r = readRemoteSecret(secret({ "cluster-a": kubeconfig({ token: "t" }), "bad id!": kubeconfig({ token: "t" }), notyaml: "{{{", noserver: stringify({ apiVersion: "v1", kind: "Config", clusters: [], contexts: [], users: [] }) }), "cluster-a");
    assert.deepEqual(r.clusters, []);
    assert.equal(r.errors.length, 4, r.errors.join("\n"));
    assert.ok(r.errors.some((e) => /data\.cluster-a: cluster cluster-a is this control plane's own cluster; ignored/.test(e)));
    assert.ok(r.errors.some((e) => /"bad id!" is not a cluster id/.test(e)));
  });
});
