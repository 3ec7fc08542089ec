// A throwaway PostgreSQL for the tests: Debian's `postgresql` package (installed by setup.sh),
// a fresh cluster in a temp dir (initdb), listening on a unix socket in that dir only (no TCP),
// trust authentication (the socket's directory is private), no fsync. Run as the `postgres` user
// when the tests run as root (PostgreSQL refuses root). Absent binaries: skip outside CI, error in CI.
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Postgres {
  /** postgresql://postgres@/postgres?host=<socket dir> */
  readonly url: string;
  /** Stops the server, keeping its data (a database that is away). */
  pause(): void;
  /** Starts it again on the same socket. */
  resume(): void;
  stop(): void;
}

function binDir(): string | undefined {
  const base = "/usr/lib/postgresql";
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(join(base, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(base, versions[0], "bin");
  }
  return undefined;
}

export function postgresOrSkip(ctx: Mocha.Context): Postgres {
  const bin = binDir();
  if (bin === undefined) {
    const why = "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql; scripts/setup.sh does)";
    if (process.env["CI"] === "true") throw new Error(`the PostgreSQL tests must run in CI: ${why}`);
    console.log(`      skipped: ${why}`);
    ctx.skip();
  }
  return startPostgres(bin!);
}

export function startPostgres(bin: string): Postgres {
  const dir = mkdtempSync(join(tmpdir(), "meshward-pg-"));
  const data = join(dir, "data");
  const sock = join(dir, "sock");
  mkdirSync(sock);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const id = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
    const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
    if (id.status !== 0) throw new Error("running as root needs the postgres user (from Debian's postgresql package)");
    for (const d of [dir, sock]) chownSync(d, Number(id.stdout.trim()), Number(gid.stdout.trim()));
  }
  chmodSync(dir, 0o700);
  const run = (cmd: string, args: string[]): void => {
    const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", join(bin, cmd), ...args]] : [join(bin, cmd), args];
    const r = spawnSync(file, argv as string[], { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
  };
  run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  const start = (): void => run("pg_ctl", ["-D", data, "-l", join(dir, "postgres.log"), "-w", "-o", `-c listen_addresses='' -k ${sock} -c fsync=off -c full_page_writes=off`, "start"]);
  start();
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  process.once("exit", stop);
  return {
    url: `postgresql://postgres@/postgres?host=${encodeURIComponent(sock)}`,
    pause: () => run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]),
    resume: start,
    stop,
  };
}
