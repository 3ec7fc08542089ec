// The seam: sources report per-object events, the merge hands the model the same objects for what
// did not change (so the model does not read them again), and two sources merge in order.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigObject } from "../../src/model/config.js";
import type { ConfigSet } from "../../src/model/snapshot.js";
import { FileSource } from "../../src/sources/file.js";
import { ConfigMerge } from "../../src/sources/merge.js";
import type { ConfigSource, SourceBatch, SourceSink } from "../../src/sources/source.js";
import { eventually } from "../support/eventually.js";

const se = (name: string, address: string): string =>
  `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ${name}, namespace: default}\nspec:\n  hosts: [${name}.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  endpoints: [{address: ${address}}]\n`;

/** A source a test feeds by hand. */
class HandSource implements ConfigSource {
  readonly name = "hand";
  sink: SourceSink | undefined;
  start(sink: SourceSink): void {
    this.sink = sink;
  }
  stop(): void {}
  send(batch: SourceBatch): void {
    this.sink!(batch);
  }
}

const object = (name: string): ConfigObject => ({
  apiVersion: "security.istio.io/v1",
  kind: "AuthorizationPolicy",
  metadata: { name, namespace: "default", labels: {}, annotations: {} },
  spec: {},
  origin: { source: "kubernetes", cluster: "Kubernetes", file: `k8s://Kubernetes/${name}`, resource: `security.istio.io/v1/AuthorizationPolicy default/${name}` },
});

describe("source seam", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "meshward-merge-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("a file edit reports only the edited object; the others reach the model as the same objects", async () => {
    writeFileSync(join(dir, "a.yaml"), `${se("one", "10.0.0.1")}---\n${se("two", "10.0.0.2")}`);
    writeFileSync(join(dir, "b.yaml"), se("three", "10.0.0.3"));
    const source = new FileSource({ dir, debounceMs: 20, log: () => {} });
    const batches: SourceBatch[] = [];
    const sets: ConfigSet[] = [];
    const merge = new ConfigMerge([{ name: source.name, start: (sink) => source.start((b) => (batches.push(b), sink(b))), stop: () => source.stop() }], (s) => sets.push(s));
    merge.start();
    try {
      assert.deepEqual(batches[0]!.events.map((e) => e.type), ["add", "add", "add"]);
      const first = new Map(sets[0]!.objects.map((o) => [o.metadata.name, o]));
      writeFileSync(join(dir, "a.yaml"), `${se("one", "10.0.0.1")}---\n${se("two", "10.0.0.22")}`);
      const next = await eventually("the edit", () => sets.find((s) => s.objects.some((o) => JSON.stringify(o.spec).includes("10.0.0.22"))));
      const edit = batches.find((b) => b.events.length > 0 && b !== batches[0])!;
      assert.deepEqual(edit.events.map((e) => [e.type, e.type === "delete" ? "" : e.object.metadata.name]), [["update", "two"]]);
      const now = new Map(next.objects.map((o) => [o.metadata.name, o]));
      assert.equal(now.get("one"), first.get("one"), "an unchanged document of the edited file keeps its object");
      assert.equal(now.get("three"), first.get("three"), "an untouched file keeps its objects");
      assert.notEqual(now.get("two"), first.get("two"));
    } finally {
      merge.stop();
    }
  });

  it("merges sources in order, applies deletes, and emits nothing for an event that changes nothing", () => {
    writeFileSync(join(dir, "a.yaml"), se("one", "10.0.0.1"));
    const hand = new HandSource();
    const sets: ConfigSet[] = [];
    const merge = new ConfigMerge([new FileSource({ dir, log: () => {} }), hand], (s) => sets.push(s));
    merge.start();
    try {
      const p = object("p");
      hand.send({ events: [{ type: "add", key: "p", object: p }, { type: "add", key: "q", object: object("q") }] });
      assert.deepEqual(sets.at(-1)!.objects.map((o) => o.metadata.name), ["one", "p", "q"]);
      const count = sets.length;
      hand.send({ events: [{ type: "update", key: "p", object: p }] });
      assert.equal(sets.length, count, "the same object again is no change");
      hand.send({ events: [{ type: "delete", key: "q" }] });
      assert.deepEqual(sets.at(-1)!.objects.map((o) => o.metadata.name), ["one", "p"]);
      assert.equal(sets.at(-1)!.objects[1], p);
    } finally {
      merge.stop();
    }
  });

  it("with coalescing, a burst of batches becomes one set, and flush hands it over at once", async () => {
    const hand = new HandSource();
    const sets: ConfigSet[] = [];
    const merge = new ConfigMerge([hand], (s) => sets.push(s), { coalesceMs: 20 });
    merge.start();
    try {
      hand.send({ events: [{ type: "add", key: "p", object: object("p") }] });
      hand.send({ events: [{ type: "add", key: "q", object: object("q") }] });
      assert.equal(sets.length, 0, "nothing yet: the burst is gathered");
      await eventually("the coalesced set", () => (sets.length > 0 ? true : undefined));
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(sets.map((s) => s.objects.map((o) => o.metadata.name)), [["p", "q"]]);
      hand.send({ events: [{ type: "delete", key: "p" }] });
      merge.flush();
      assert.deepEqual(sets.at(-1)!.objects.map((o) => o.metadata.name), ["q"]);
    } finally {
      merge.stop();
    }
  });
  it("takes a source added while it runs, and withdraws everything a removed source reported, stopped and ignored after", () => {
    const first = new HandSource();
    const sets: ConfigSet[] = [];
    const merge = new ConfigMerge([first], (s) => sets.push(s));
    merge.start();
    try {
      first.send({ events: [{ type: "add", key: "a", object: object("a") }] });
      const remote = new HandSource();
      let stopped = false;
      remote.stop = () => void (stopped = true);
      merge.addSource(remote);
      remote.send({ events: [{ type: "add", key: "r", object: object("r") }] });
      assert.deepEqual(sets.at(-1)!.objects.map((o) => o.metadata.name), ["a", "r"], "the added source's objects come after the first's");
      const before = sets.length;
      merge.removeSource(remote);
      assert.equal(stopped, true, "the removed source is stopped");
      assert.equal(sets.length, before + 1, "one new set");
      assert.deepEqual(sets.at(-1)!.objects.map((o) => o.metadata.name), ["a"]);
      remote.send({ events: [{ type: "add", key: "late", object: object("late") }] });
      assert.equal(sets.length, before + 1, "a removed source's late batch changes nothing");
    } finally {
      merge.stop();
    }
  });
});
