// Certificates issued per second on one core (per CPU-second, as openssl speed counts): CSR parse + signature verify + TBS build + sign + PEM,
// for ECDSA P-256 and RSA 2048 CSRs, in process and through the gRPC API, with `openssl speed` in
// the same run as the reference. Figures only, never pass/fail. Last stdout line: one JSON object.
import * as grpc from "@grpc/grpc-js";
import { execFileSync, fork } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { CertificateAuthority } from "../src/ca/authority.js";
import { CaClient } from "../src/ca/ca-api.js";
import { registerCaService } from "../src/ca/ca-service.js";
import { createCsr } from "../src/ca/csr-builder.js";
import { loadOrCreateSigner } from "../src/ca/signer-store.js";
import { MeshwardTokenAuthenticator } from "../src/security/token-authenticator.js";
import { TokenKey } from "../src/security/token-key.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 1000);
const identity = { trustDomain: "cluster.local", namespace: "bench", serviceAccount: "load" };

function csrs(kind: "ec" | "rsa", n: number): string[] {
  return Array.from({ length: n }, () => {
    const pair =
      kind === "ec"
        ? generateKeyPairSync("ec", { namedCurve: "prime256v1" })
        : generateKeyPairSync("rsa", { modulusLength: 2048 });
    return createCsr(pair.privateKey, pair.publicKey);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Issuance rate per CPU-second and per wall-second, each the median over the rounds. */
interface Rate {
  readonly perCpuSecond: number;
  readonly perWallSecond: number;
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

/**
 * Rates are per CPU-second of this process, as `openssl speed` reports per CPU (user) second: on a
 * shared, noisy machine wall-clock rates measure the neighbours. Both are printed.
 */
async function inProcess(ca: CertificateAuthority, requests: string[]): Promise<Rate> {
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    while (performance.now() - start < ROUND_MS) {
      await ca.issue({ identity, csrPem: requests[n % requests.length] });
      n++;
    }
    cpu.push(n / cpuSeconds(cpu0));
    wall.push((n * 1000) / (performance.now() - start));
  }
  return { perCpuSecond: median(cpu), perWallSecond: median(wall) };
}

/**
 * The server runs in this process; the load comes from a child process, so this process's CPU time
 * is the server's alone and the figure is what one server core sustains.
 */
async function throughGrpc(ca: CertificateAuthority, requests: string[]): Promise<Rate> {
  const tokenKey = TokenKey.generate();
  const server = new grpc.Server();
  registerCaService(server, {
    ca,
    authenticators: [new MeshwardTokenAuthenticator({ trustDomain: "cluster.local", publicKeys: [tokenKey.publicKey] })],
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const token = tokenKey.mint({ namespace: identity.namespace, serviceAccount: identity.serviceAccount });
  const load: LoadRequest = { address: `127.0.0.1:${port}`, token, requests, rounds: ROUNDS, roundMs: ROUND_MS };
  const child = fork(fileURLToPath(import.meta.url), [LOAD_FLAG], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const cpu: number[] = [];
  const wall: number[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let cpu0 = process.cpuUsage();
      child.on("message", (m: LoadEvent) => {
        if (m.kind === "start") cpu0 = process.cpuUsage();
        else if (m.kind === "end") {
          cpu.push(m.calls / cpuSeconds(cpu0));
          wall.push((m.calls * 1000) / m.wallMs);
        } else resolve();
      });
      child.once("error", reject);
      child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`load generator exited with ${code}`))));
      child.send(load);
    });
  } finally {
    child.kill();
    server.forceShutdown();
  }
  return { perCpuSecond: median(cpu), perWallSecond: median(wall) };
}

const LOAD_FLAG = "--generate-load";

interface LoadRequest {
  readonly address: string;
  readonly token: string;
  readonly requests: string[];
  readonly rounds: number;
  readonly roundMs: number;
}

type LoadEvent = { kind: "start" } | { kind: "end"; calls: number; wallMs: number } | { kind: "done" };

async function generateLoad(load: LoadRequest, send: (e: LoadEvent) => void): Promise<void> {
  const client = new CaClient(load.address, grpc.credentials.createInsecure());
  const inFlight = 32;
  await client.createCertificate({ csrPem: load.requests[0], token: load.token }); // connect outside the timing
  for (let r = 0; r < load.rounds; r++) {
    let n = 0;
    send({ kind: "start" });
    const start = performance.now();
    const worker = async (w: number): Promise<void> => {
      while (performance.now() - start < load.roundMs) {
        await client.createCertificate({ csrPem: load.requests[(n + w) % load.requests.length], token: load.token });
        n++;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
    send({ kind: "end", calls: n, wallMs: performance.now() - start });
  }
  send({ kind: "done" });
  client.close();
}

interface OpensslFigures {
  readonly ecdsaSign: number;
  readonly ecdsaVerify: number;
  readonly rsaSign: number;
  readonly rsaVerify: number;
}

function opensslSpeed(): OpensslFigures {
  const out = execFileSync("openssl", ["speed", "-seconds", "1", "ecdsap256", "rsa2048"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  const ec = /256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/.exec(out);
  const rsa = /rsa 2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/.exec(out);
  if (ec === null || rsa === null) throw new Error(`cannot read openssl speed output:\n${out}`);
  return { ecdsaSign: Number(ec[1]), ecdsaVerify: Number(ec[2]), rsaSign: Number(rsa[1]), rsaVerify: Number(rsa[2]) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "meshward-bench-ca-"));
  try {
    const ca = new CertificateAuthority({ trustDomain: "cluster.local", signer: await loadOrCreateSigner(dir, "cluster.local") });
    const ecCsrs = csrs("ec", 256);
    const rsaCsrs = csrs("rsa", 16);
    for (const c of ecCsrs.slice(0, 64)) await ca.issue({ identity, csrPem: c }); // warm up the JIT
    const fmt = (r: Rate): string => `${r.perCpuSecond.toFixed(0)} per CPU-second (${r.perWallSecond.toFixed(0)} per wall-second)`;
    const ecdsa = await inProcess(ca, ecCsrs);
    console.log(`in process, ECDSA P-256 CSRs: ${fmt(ecdsa)}, median of ${ROUNDS} x ${ROUND_MS} ms`);
    const rsa = await inProcess(ca, rsaCsrs);
    console.log(`in process, RSA 2048 CSRs:    ${fmt(rsa)}`);
    const viaGrpc = await throughGrpc(ca, ecCsrs);
    console.log(`gRPC CreateCertificate, ECDSA P-256 (plaintext, token auth, 32 in flight from another process): ${fmt(viaGrpc)} of the server`);
    const ecdsaP256PerSec = ecdsa.perCpuSecond;
    const rsa2048PerSec = rsa.perCpuSecond;
    const grpcEcdsaP256PerSec = viaGrpc.perCpuSecond;
    const o = opensslSpeed();
    const opensslEcdsaBoundPerSec = 1 / (1 / o.ecdsaSign + 1 / o.ecdsaVerify);
    console.log(
      `openssl speed (per CPU-second): ecdsap256 sign ${o.ecdsaSign}/s verify ${o.ecdsaVerify}/s -> bound ${opensslEcdsaBoundPerSec.toFixed(0)}/s; ` +
        `rsa2048 sign ${o.rsaSign}/s verify ${o.rsaVerify}/s`,
    );
    const r = (x: number): number => Math.round(x);
    console.log(
      JSON.stringify({
        ecdsaP256PerSec: r(ecdsaP256PerSec),
        rsa2048PerSec: r(rsa2048PerSec),
        grpcEcdsaP256PerSec: r(grpcEcdsaP256PerSec),
        opensslEcdsaBoundPerSec: r(opensslEcdsaBoundPerSec),
        ecdsaRatio: Math.round((ecdsaP256PerSec / opensslEcdsaBoundPerSec) * 1000) / 1000,
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes(LOAD_FLAG)) {
  process.once("message", (load: LoadRequest) => {
    void generateLoad(load, (e) => process.send?.(e)).then(() => process.disconnect());
  });
} else {
  await main();
}
