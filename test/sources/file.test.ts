// The file source on a real temporary directory with real fs.watch events.
import { strict as assert } from "node:assert";
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSource } from "../../src/sources/file.js";
import { ConfigMerge } from "../../src/sources/merge.js";
import type { ConfigSet } from "../../src/model/snapshot.js";

function se(name: string, address: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${name}.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: ${address}}]
`;
}

/** Collects emitted sets; `next(pred)` waits for one matching set. */
class Recorder {
  readonly sets: ConfigSet[] = [];
  private waiters: { pred: (s: ConfigSet) => boolean; resolve: (s: ConfigSet) => void }[] = [];
  readonly listener = (s: ConfigSet): void => {
    this.sets.push(s);
    for (const w of [...this.waiters]) {
      if (w.pred(s)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(s);
      }
    }
  };
  next(pred: (s: ConfigSet) => boolean, what: string): Promise<ConfigSet> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5000);
      this.waiters.push({ pred, resolve: (s) => (clearTimeout(t), resolve(s)) });
    });
  }
}

const names = (s: ConfigSet): string[] => s.objects.map((o) => o.metadata.name).sort();

describe("file source", () => {
  let dir: string;
  let source: FileSource;
  let rec: Recorder;
  const logs: string[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "meshward-filesource-"));
    rec = new Recorder();
    logs.length = 0;
  });
  afterEach(() => {
    source?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads mesh.yaml and multi-document files, with each object's origin", () => {
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: example.org\n");
    writeFileSync(join(dir, "a.yaml"), `${se("one", "10.0.0.1")}---\n${se("two", "10.0.0.2")}`);
    writeFileSync(join(dir, "notes.txt"), "not config");
    source = new FileSource({ dir, log: (l) => logs.push(l) });
    const set = source.load();
    assert.deepEqual(set.mesh, { doc: { trustDomain: "example.org" }, file: join(dir, "mesh.yaml") });
    assert.deepEqual(names(set), ["one", "two"]);
    assert.deepEqual(set.objects.map((o) => o.origin), [{ source: "file", file: join(dir, "a.yaml"), document: 0 }, { source: "file", file: join(dir, "a.yaml"), document: 1 }]);
    assert.deepEqual(set.errors, []);
  });

  it("drops a malformed document alone and names it", () => {
    writeFileSync(join(dir, "a.yaml"), `${se("one", "10.0.0.1")}---\nkind: ServiceEntry\nmetadata: {namespace: x}\n`);
    source = new FileSource({ dir, log: (l) => logs.push(l) });
    const set = source.load();
    assert.deepEqual(names(set), ["one"]);
    assert.equal(set.errors.length, 1);
    assert.equal(set.errors[0]?.file, join(dir, "a.yaml"));
    assert.equal(set.errors[0]?.path, "apiVersion");
    assert.match(set.errors[0]!.message, /YAML document 2/);
    assert.ok(logs.some((l) => l.includes("a.yaml")), "errors are logged");
  });

  it("reloads on change, keeps a broken file's last good objects, and recovers", async () => {
    writeFileSync(join(dir, "a.yaml"), se("one", "10.0.0.1"));
    writeFileSync(join(dir, "b.yaml"), se("two", "10.0.0.2"));
    source = new FileSource({ dir, debounceMs: 20, log: (l) => logs.push(l) });
    new ConfigMerge([source], rec.listener).start();
    assert.deepEqual(names(rec.sets[0]!), ["one", "two"]);

    writeFileSync(join(dir, "c.yaml"), se("three", "10.0.0.3"));
    await rec.next((s) => names(s).includes("three"), "the new file");

    writeFileSync(join(dir, "a.yaml"), "apiVersion: [unclosed\n");
    const broken = await rec.next((s) => s.errors.length > 0, "the parse error");
    assert.deepEqual(names(broken), ["one", "three", "two"], "a.yaml keeps its last good object");
    assert.equal(broken.errors[0]?.file, join(dir, "a.yaml"));
    assert.match(broken.errors[0]!.message, /cannot parse.*keeping its last good content/);
    assert.deepEqual(source.errors, broken.errors, "errors are inspectable");

    writeFileSync(join(dir, "a.yaml"), se("uno", "10.0.0.9"));
    const fixed = await rec.next((s) => s.errors.length === 0 && names(s).includes("uno"), "the fixed file");
    assert.deepEqual(names(fixed), ["three", "two", "uno"]);

    unlinkSync(join(dir, "b.yaml"));
    await rec.next((s) => !names(s).includes("two"), "the removal");
  });

  it("sees an editor's write-to-temp-then-rename", async () => {
    writeFileSync(join(dir, "a.yaml"), se("one", "10.0.0.1"));
    source = new FileSource({ dir, debounceMs: 20, log: () => {} });
    new ConfigMerge([source], rec.listener).start();
    writeFileSync(join(dir, ".a.yaml.swp"), se("one", "10.0.0.7"));
    renameSync(join(dir, ".a.yaml.swp"), join(dir, "a.yaml"));
    const s = await rec.next((x) => x.objects.some((o) => JSON.stringify(o.spec).includes("10.0.0.7")), "the renamed file");
    assert.deepEqual(names(s), ["one"]);
  });

  it("follows a directory replaced wholesale (deploy tools swap the whole directory)", async () => {
    writeFileSync(join(dir, "a.yaml"), se("one", "10.0.0.1"));
    source = new FileSource({ dir, debounceMs: 20, log: (l) => logs.push(l) });
    new ConfigMerge([source], rec.listener).start();
    const staged = mkdtempSync(join(tmpdir(), "meshward-filesource-staged-"));
    writeFileSync(join(staged, "a.yaml"), se("replaced", "10.0.0.2"));
    rmSync(dir, { recursive: true });
    const gone = await rec.next((s) => s.errors.some((e) => /cannot read directory/.test(e.message)), "the missing directory");
    assert.deepEqual(names(gone), ["one"], "the last good config stays while the directory is missing");
    renameSync(staged, dir);
    await rec.next((s) => names(s).includes("replaced") && s.errors.length === 0, "the new directory's content");
    // And the new directory is watched.
    writeFileSync(join(dir, "b.yaml"), se("later", "10.0.0.3"));
    await rec.next((s) => names(s).includes("later"), "a change in the new directory");
  });

  it("does not emit when a write leaves the content unchanged", async () => {
    writeFileSync(join(dir, "a.yaml"), se("one", "10.0.0.1"));
    source = new FileSource({ dir, debounceMs: 20, log: () => {} });
    new ConfigMerge([source], rec.listener).start();
    writeFileSync(join(dir, "a.yaml"), se("one", "10.0.0.1"));
    // Let the rewrite's debounced reload happen on its own before the next change.
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(join(dir, "b.yaml"), se("two", "10.0.0.2"));
    await rec.next((s) => names(s).includes("two"), "the second file");
    assert.equal(rec.sets.length, 2, "the unchanged rewrite produced no set of its own");
  });
});
