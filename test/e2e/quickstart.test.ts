// Issue 14 item 5: examples/quickstart/run.sh, run as a user runs it (as root, on the real kernel):
// serve, the eBPF node agent and three proxyless gRPC services over mTLS; the AuthorizationPolicy
// turns web -> payments from allowed to denied; web's container escape quarantines it (cut off from
// every peer, the others untouched) and the audit chain runs from the syscall to the last ACK; and
// nothing it made is left behind. On free loopback ports, so a meshward on the defaults is not hit.
import { strict as assert } from "node:assert";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { skipUnlessRoot } from "../agent/fixture.js";
import { freePort } from "../support/proxyless.js";

const SCRIPT = join(process.cwd(), "examples", "quickstart", "run.sh");

/** The script's output split by its `== title` headers (colour codes removed). */
function sections(out: string): Map<string, string> {
  const plain = out.replace(/\x1b\[[0-9;]*m/g, "");
  const map = new Map<string, string>();
  for (const part of plain.split(/^== /m).slice(1)) {
    const nl = part.indexOf("\n");
    map.set(part.slice(0, nl).trim(), part.slice(nl + 1));
  }
  return map;
}

function section(s: Map<string, string>, prefix: string): string {
  const key = [...s.keys()].find((k) => k.startsWith(prefix));
  assert.ok(key !== undefined, `a section "${prefix}..." in ${[...s.keys()].join(" | ")}`);
  return s.get(key)!;
}

/** The network namespaces and links of the run whose bridge is `bridge` (mwqs<tag>) still there. */
function leftovers(bridge: string): string[] {
  const tag = bridge.slice("mwqs".length);
  const netns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").filter((l) => l.startsWith(`mwqs-${tag}-`));
  const links = execFileSync("ip", ["-o", "link"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(` ${bridge}`));
  return [...netns, ...links];
}

describe("examples/quickstart/run.sh: the whole loop in one command", function () {
  this.timeout(420_000);
  let child: ChildProcess | undefined;
  let out = "";
  let code: number | null = null;

  before(async function () {
    skipUnlessRoot(this);
    const [xds, consolePort, monitoring] = [await freePort(), await freePort(), await freePort()];
    child = spawn("bash", [SCRIPT], {
      env: {
        ...process.env,
        MESHWARD_QUICKSTART_XDS: `127.0.0.1:${xds}`,
        MESHWARD_QUICKSTART_CONSOLE: `127.0.0.1:${consolePort}`,
        MESHWARD_QUICKSTART_MONITORING: `127.0.0.1:${monitoring}`,
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    code = await new Promise<number | null>((resolve) => child!.on("exit", (c) => resolve(c)));
    child = undefined;
  });

  after(() => {
    // Only if the test itself timed out: the script's trap cleans up on TERM.
    if (child?.pid !== undefined) process.kill(-child.pid, "SIGTERM");
  });

  it("finishes, and cleans up after itself", () => {
    assert.equal(code, 0, out);
    assert.match(out, /quickstart: done\nquickstart: cleaned up\n/);
    // Only this run's (other runs of the quickstart may be going on on this machine).
    const bridge = /on bridge (mwqs[0-9a-f]{6})/.exec(out)?.[1];
    assert.ok(bridge !== undefined, "the run names its bridge");
    assert.deepEqual(leftovers(bridge), [], "no network namespace or link of the quickstart is left");
  });

  it("prints the calls allowed under STRICT mTLS, then web -> payments denied by the AuthorizationPolicy", () => {
    const s = sections(out);
    const open = section(s, "calls with STRICT mTLS");
    for (const pair of ["web -> cart", "web -> payments", "cart -> payments", "payments -> web"]) {
      assert.match(open, new RegExp(`^${pair}:\\s+ALLOWED `, "m"), `${pair} in:\n${open}`);
    }
    assert.match(open, /^web -> cart:\s+ALLOWED cart \(caller URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web\)$/m, "over mTLS: the server sees the caller's SPIFFE id");
    const policed = section(s, "apply examples/quickstart/authorization-policy.yaml");
    assert.match(policed, /^web -> payments:\s+DENIED /m, policed);
    assert.match(policed, /^cart -> payments:\s+ALLOWED payments /m, policed);
    assert.match(policed, /^web -> cart:\s+ALLOWED cart /m, policed);
  });

  it("quarantines the escaping pod: cut off from every peer, the others untouched, with the chain from syscall to last ACK", () => {
    const s = sections(out);
    const escape = section(s, "the web pod attempts a container escape");
    assert.match(escape, /^q-[0-9a-f]+\s+quarantine\s+pod\s+shop\/web-0\s/m, escape);
    const after = section(s, "calls with web-0 quarantined");
    for (const pair of ["web -> cart", "cart -> web", "payments -> web"]) assert.match(after, new RegExp(`^${pair}:\\s+(UNAVAILABLE|DENIED) `, "m"), `${pair} in:\n${after}`);
    assert.match(after, /^cart -> payments:\s+ALLOWED payments /m, after);
    assert.match(after, /^payments -> cart:\s+ALLOWED cart /m, after);
    const chain = section(s, "the audit chain");
    assert.match(chain, /signal\s+shop\/web-0\s+namespace-setns high T1611 \/usr\/bin\/nsenter/, chain);
    assert.match(chain, /chain\s+shop\/web-0\s+signal=\S+ syscall->last ACK \d+\.\dms over [1-9]\d* proxies \([1-9]\d* ACK, 0 NACK\): agent [+-][\d.]+ms received [+-][\d.]+ms verdict [+-][\d.]+ms translated [+-][\d.]+ms first push [+-][\d.]+ms last ACK [+-][\d.]+ms/, chain);
    assert.match(section(s, "analyze the running control plane"), /Info \[MW0002\] \(Pod shop\/web-0 control plane\) quarantine \(pod\)/);
  });
});
