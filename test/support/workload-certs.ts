// Workload certificates as a pod's agent keeps them: for each identity, a token from
// `meshward token create` and a long-running `meshward workload-certs` process writing (and
// rotating) the certificate directory a gRPC bootstrap's file_watcher provider reads.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eventually } from "./eventually.js";
import { MESHWARD_BIN, meshwardOk } from "./meshward-cli.js";

export class WorkloadCertAgents {
  private readonly agents: ChildProcess[] = [];

  /**
   * @param dir where tokens and certificate directories go
   * @param dataDir the control plane's data directory (its token signing key)
   * @param caAddress the control plane's CA address
   */
  constructor(
    private readonly dir: string,
    private readonly dataDir: string,
    private readonly caAddress: string,
  ) {}

  /** Starts the agent of `namespace/serviceAccount`; resolves with its certificate directory once written. */
  async start(namespace: string, serviceAccount: string, ttl?: string): Promise<string> {
    const name = `${namespace}-${serviceAccount}`;
    const token = await meshwardOk("token", "create", "--namespace", namespace, "--service-account", serviceAccount, "--data-dir", this.dataDir);
    const tokenFile = join(this.dir, `${name}.token`);
    writeFileSync(tokenFile, token.trim(), { mode: 0o600 });
    const out = join(this.dir, `certs-${name}`);
    const args = [MESHWARD_BIN, "workload-certs", "--token-file", tokenFile, "--ca-address", this.caAddress, "--out", out, ...(ttl ? ["--ttl", ttl] : [])];
    const agent = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.agents.push(agent);
    let log = "";
    agent.stdout!.on("data", (b: Buffer) => (log += b.toString()));
    agent.stderr!.on("data", (b: Buffer) => (log += b.toString()));
    await eventually(`certificates for ${name} (${log})`, () => (existsSync(join(out, "cert-chain.pem")) && existsSync(join(out, "key.pem")) ? true : undefined));
    return out;
  }

  stop(): void {
    for (const a of this.agents) if (a.exitCode === null) a.kill("SIGTERM");
  }
}
