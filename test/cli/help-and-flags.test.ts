// Every command reads its flags the same way: `--help` prints its usage on stdout and exits 0, an
// unknown flag is refused naming the flag, with the usage, exit 2. Run as a user runs them.
import assert from "node:assert/strict";
import { FlagError, parseDurationSeconds, parseFlags, parseLabels } from "../../src/cli/flags.js";
import { runMeshward } from "../support/meshward-cli.js";

const COMMANDS = ["serve", "agent", "agent audit", "events", "quarantine", "risk", "token", "workload-certs", "x authz"];

describe("meshward commands: --help and unknown flags", function () {
  this.timeout(60_000);

  for (const command of COMMANDS) {
    it(`meshward ${command}`, async () => {
      const words = command.split(" ");
      const help = await runMeshward(...words, "--help");
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`^usage: meshward ${command}\\b`, "m"));
      assert.equal(help.stderr, "");
      const bad = await runMeshward(...words, "--no-such-flag", "x");
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, new RegExp(`^meshward ${command}: unknown flag --no-such-flag\\n`));
      assert.match(bad.stderr, /usage: meshward/);
    });
  }

  it("meshward --help lists every command with its summary", async () => {
    const r = await runMeshward("--help");
    assert.equal(r.code, 0);
    for (const c of ["serve", "agent", "events", "quarantine", "risk", "token", "workload-certs", "x"]) {
      assert.match(r.stdout, new RegExp(`^  ${c} +\\S`, "m"), c);
    }
  });
});

describe("parseFlags", () => {
  const options = { name: { type: "string" }, on: { type: "boolean", default: false } } as const;

  it("reads --name value, --name=value and booleans", () => {
    assert.deepEqual({ ...parseFlags(["--name", "a", "--on"], options).values }, { name: "a", on: true });
    assert.equal(parseFlags(["--name=b"], options).values.name, "b");
    assert.deepEqual(parseFlags(["p1", "--name", "c", "p2"], options, true).positionals, ["p1", "p2"]);
  });

  it("names the flag in every refusal", () => {
    assert.throws(() => parseFlags(["--nope"], options), (e: Error) => e instanceof FlagError && e.message === "unknown flag --nope");
    assert.throws(() => parseFlags(["--name"], options), (e: Error) => e instanceof FlagError && e.message === "--name needs a value");
    assert.throws(() => parseFlags(["stray"], options), (e: Error) => e instanceof FlagError && e.message === "unexpected argument stray");
  });

  it("labels and durations", () => {
    assert.deepEqual(parseLabels("app=web, version=v1"), { app: "web", version: "v1" });
    assert.throws(() => parseLabels("app"), /--labels entry "app" is not key=value/);
    assert.equal(parseDurationSeconds("90d", "ttl"), 90 * 86400);
    assert.equal(parseDurationSeconds("1d12h", "ttl"), 129600);
    assert.throws(() => parseDurationSeconds("1500ms", "ttl"), /whole seconds/);
    assert.throws(() => parseDurationSeconds("-1h", "ttl"), /--ttl "-1h"/);
  });
});
