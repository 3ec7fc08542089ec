// Go test peers (grpc-go's xDS client, istiod's own translation) are built from the Go module
// proxy: once per content of their module and Go version, cached under the temp dir, so every later
// run reuses the binary. Go missing is a skip outside CI only; with CI=true it is an error, so CI
// cannot pass without running the peers.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

export type GoBinary = { readonly path: string } | { readonly skip: string };

export interface GoBuild {
  /** What the binary is, for messages ("grpc-go peer"). */
  readonly what: string;
  /** The Go module's directory (holds go.mod). */
  readonly dir: string;
  /** The package to build, relative to `dir` ("./xdspeer", "."). */
  readonly pkg: string;
  /** Cache folder under the temp dir and the binary's name in it. */
  readonly cacheName: string;
  readonly binary: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.go$|^go\.(mod|sum)$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

/** Content hash of the module and the Go version: the cache key of a built binary. */
function buildKey(dir: string, goVersion: string): string {
  const h = createHash("sha256").update(goVersion);
  for (const f of sourceFiles(dir)) h.update(relative(dir, f)).update("\0").update(readFileSync(f)).update("\0");
  return h.digest("hex").slice(0, 16);
}

/** The built binary, or why it cannot be had (outside CI only). */
export async function buildGoBinary(b: GoBuild): Promise<GoBinary> {
  const version = spawnSync("go", ["version"], { encoding: "utf8" });
  if (version.error !== undefined || version.status !== 0) {
    const why = `Go is not installed (go version: ${version.error?.message ?? version.stderr.trim()})`;
    if (process.env["CI"] === "true") throw new Error(`${b.what} must run in CI: ${why}`);
    return { skip: why };
  }
  const cache = join(tmpdir(), b.cacheName, buildKey(b.dir, version.stdout.trim()));
  const path = join(cache, b.binary);
  if (existsSync(path) && statSync(path).isFile()) return { path };
  mkdirSync(cache, { recursive: true });
  // Build beside the final name and rename: concurrent test runs never see half a binary.
  const partial = `${path}.${process.pid}.partial`;
  const started = performance.now();
  const code = await new Promise<{ status: number | null; output: string }>((resolve, reject) => {
    const child = spawn("go", ["build", "-o", partial, b.pkg], {
      cwd: b.dir,
      env: { ...process.env, GOFLAGS: `${process.env["GOFLAGS"] ?? ""} -mod=mod`.trim() },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, output }));
  });
  if (code.status !== 0) {
    rmSync(partial, { force: true });
    throw new Error(`${b.what}: go build failed (exit ${code.status}) in ${b.dir}:\n${code.output}`);
  }
  renameSync(partial, path);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`      ${b.what}: built ${path} in ${seconds} s (${version.stdout.trim()}; module downloads included)`);
  return { path };
}
