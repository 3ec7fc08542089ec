// Shared fixtures for the CA tests: temp directories, openssl as the independent checker, a CA on
// a fresh data directory and a CA gRPC server on an ephemeral port.
import * as grpc from "@grpc/grpc-js";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { CertificateAuthority, type CertificateAuthorityOptions } from "../../src/ca/authority.js";
import { registerCaService, type CaDecision } from "../../src/ca/ca-service.js";
import type { NodeImpersonation } from "../../src/ca/node-impersonation.js";
import { loadOrCreateSigner, type CaKeyType } from "../../src/ca/signer-store.js";
import type { Authenticator } from "../../src/security/identity.js";

const run = promisify(execFile);

export const TRUST_DOMAIN = "cluster.local";

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `meshward-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs openssl; resolves with stdout+stderr and the exit code instead of throwing. */
export async function openssl(args: string[], cwd?: string, stdin = ""): Promise<{ code: number; out: string }> {
  try {
    const pending = run("openssl", args, { cwd, encoding: "utf8", timeout: 20_000 });
    // openssl may exit without reading stdin (EPIPE); s_client needs it closed to finish.
    pending.child.stdin?.on("error", () => undefined);
    pending.child.stdin?.end(stdin);
    const r = await pending;
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : 1, out: (err.stdout ?? "") + (err.stderr ?? "") };
  }
}

export async function opensslOk(args: string[], cwd?: string, stdin = ""): Promise<string> {
  const r = await openssl(args, cwd, stdin);
  if (r.code !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.code}):\n${r.out}`);
  return r.out;
}

export type CsrKind = "rsa2048" | "rsa-pss" | "ec-p256" | "ec-p384";

/** A CSR made by openssl req (a foreign producer), asking for `requestedSan`. */
export async function opensslCsr(dir: string, kind: CsrKind, requestedSan: string): Promise<{ csr: string; keyFile: string }> {
  const keyFile = path.join(dir, `${kind}-${Math.random().toString(36).slice(2)}.key`);
  const csrFile = `${keyFile}.csr`;
  const keyArgs: Record<CsrKind, string[]> = {
    rsa2048: ["-newkey", "rsa:2048"],
    "rsa-pss": ["-newkey", "rsa:2048", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
    "ec-p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "ec-p384": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
  };
  await opensslOk([
    "req", "-new", ...keyArgs[kind], "-nodes", "-keyout", keyFile, "-out", csrFile,
    "-subj", "/CN=requested/O=attacker", "-addext", `subjectAltName=URI:${requestedSan}`,
  ]);
  const { readFile } = await import("node:fs/promises");
  return { csr: await readFile(csrFile, "utf8"), keyFile };
}

export async function newCa(
  dataDir: string,
  keyType: CaKeyType = "ecdsa-p256",
  opts: Partial<CertificateAuthorityOptions> = {},
): Promise<CertificateAuthority> {
  const signer = await loadOrCreateSigner(dataDir, TRUST_DOMAIN, keyType);
  return new CertificateAuthority({ trustDomain: TRUST_DOMAIN, signer, ...opts });
}

export interface RunningCaServer {
  readonly address: string;
  readonly decisions: CaDecision[];
  stop(): Promise<void>;
}

export async function startCaServer(
  ca: CertificateAuthority,
  authenticators: readonly Authenticator[],
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
  impersonation?: NodeImpersonation,
): Promise<RunningCaServer> {
  const server = new grpc.Server();
  const decisions: CaDecision[] = [];
  registerCaService(server, { ca, authenticators, onDecision: (d) => decisions.push(d), ...(impersonation ? { impersonation } : {}) });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", credentials, (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    decisions,
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}

export async function writeText(file: string, text: string): Promise<string> {
  await writeFile(file, text);
  return file;
}
