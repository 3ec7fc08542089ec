// The informer against a real kube-apiserver + etcd: list then watch, every change handed over
// once, and nothing lost or repeated when the apiserver restarts mid-watch.
import assert from "node:assert/strict";
import { KubeClient } from "../../src/kube/client.js";
import { Informer, type InformerEvent } from "../../src/kube/informer.js";
import type { KubeResource } from "../../src/kube/resources.js";
import { kubeApiserverBinaries, startKubeApiserver, uniqueName, type KubeApiserver } from "../support/kube-apiserver.js";
import { eventually } from "../support/eventually.js";

const ConfigMaps: KubeResource = { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true };

describe("kube informer (real kube-apiserver)", function () {
  let kas: KubeApiserver | undefined;
  let client: KubeClient;
  let informer: Informer | undefined;
  const ns = uniqueName("informer");

  before(function () {
    const b = kubeApiserverBinaries();
    if ("skip" in b) {
      console.log(`      skipped: ${b.skip}`);
      this.skip();
    }
    this.timeout(180_000);
    // A private apiserver: this suite restarts it.
    kas = startKubeApiserver();
    client = new KubeClient({ kubeconfig: kas.kubeconfig });
  });
  after(() => {
    informer?.stop();
    kas?.stop();
  });

  const cm = (name: string, value: string): unknown => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns }, data: { value } });
  const put = (name: string, value: string): Promise<unknown> => client.request("PUT", `/api/v1/namespaces/${ns}/configmaps/${name}`, cm(name, value));

  it("lists, watches, and loses or repeats nothing across an apiserver restart", async function () {
    this.timeout(120_000);
    await client.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    await client.request("POST", `/api/v1/namespaces/${ns}/configmaps`, cm("before-list", "1"));
    const events: InformerEvent[] = [];
    informer = new Informer({ client, resource: ConfigMaps, namespace: ns, onEvents: (e) => events.push(...e), log: () => {}, backoffMs: { initial: 100, max: 1000 } });
    informer.start();
    await informer.waitForSync();
    assert.deepEqual(events.map((e) => `${e.type} ${e.key}`), [`add ${ns}/before-list`], "the initial list");

    await client.request("POST", `/api/v1/namespaces/${ns}/configmaps`, cm("a", "1"));
    await client.request("POST", `/api/v1/namespaces/${ns}/configmaps`, cm("doomed", "1"));
    await eventually("the watched adds", () => (events.length === 3 ? true : undefined));

    kas!.restartApiserver();
    // Written while the informer is still reconnecting (its watch broke with the old apiserver).
    await put("a", "2");
    await client.request("DELETE", `/api/v1/namespaces/${ns}/configmaps/doomed`);
    await client.request("POST", `/api/v1/namespaces/${ns}/configmaps`, cm("after", "1"));
    await eventually("the changes made across the restart", () => (informer!.get(`${ns}/after`) !== undefined && informer!.get(`${ns}/doomed`) === undefined ? true : undefined), 60_000);
    // And one more, to see that the watch (not only a list) is live again.
    await put("a", "3");
    const valueOf = (e: InformerEvent): string | undefined => (e.object["data"] as { value?: string } | undefined)?.value;
    await eventually("the watch after the restart", () => (events.some((e) => e.key === `${ns}/a` && valueOf(e) === "3") ? true : undefined), 30_000);
    const trace = JSON.stringify(events.map((e) => `${e.type} ${e.key}@${e.object.metadata.resourceVersion}`)) + JSON.stringify(informer.stats);

    const seen = events.map((e) => `${e.type} ${e.key}`);
    assert.deepEqual(seen.slice(0, 3), [`add ${ns}/before-list`, `add ${ns}/a`, `add ${ns}/doomed`], `before the restart, in order: ${trace}`);
    // Across the restart a re-list (410 Gone) reports what changed meanwhile in its own order.
    assert.deepEqual(seen.slice(3, 6).sort(), [`add ${ns}/after`, `delete ${ns}/doomed`, `update ${ns}/a`], `the changes across the restart, each once: ${trace}`);
    assert.deepEqual(seen.slice(6), [`update ${ns}/a`], `then the live watch, and nothing else: ${trace}`);
    const versions = events.filter((e) => e.type !== "delete").map((e) => `${e.key}@${e.object.metadata.resourceVersion}`);
    assert.equal(new Set(versions).size, versions.length, `no object version handed over twice: ${trace}`);
    const listed = await client.request<{ items: { metadata: { name: string } }[] }>("GET", `/api/v1/namespaces/${ns}/configmaps`);
    assert.deepEqual(informer.list().map((o) => o.metadata.name).sort(), listed.items.map((o) => o.metadata.name).sort(), "the store equals the apiserver");
    assert.ok(informer.stats.errors + informer.stats.relistsOnGone > 0, `the restart was noticed (${JSON.stringify(informer.stats)})`);
  });
});
