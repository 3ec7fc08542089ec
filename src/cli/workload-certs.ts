// `meshward workload-certs`: istio-agent's job for a proxyless gRPC pod. Obtains and rotates
// cert-chain.pem / key.pem / root-cert.pem in --out and writes the gRPC xDS bootstrap.
import * as grpc from "@grpc/grpc-js";
import { promises as fs } from "node:fs";
import { CaClient } from "../ca/ca-api.js";
import { writeFileAtomic, PUBLIC_FILE_MODE } from "../ca/atomic-file.js";
import { grpcXdsBootstrap } from "../ca/grpc-bootstrap.js";
import { ISTIOD_DNS_NAMES } from "../ca/serving-credentials.js";
import { WorkloadCertificateAgent, type RenewedCertificate } from "../ca/workload-agent.js";
import { TokenKey } from "../security/token-key.js";
import { FlagError, parseDurationSeconds, parseFlags, required, type Flags } from "./flags.js";
import type { Command } from "./main.js";

const USAGE = `usage: meshward workload-certs (--token-file F | --namespace N --service-account S [--data-dir D])
         --ca-address host:port [--ca-root root.pem] [--ca-server-name ${ISTIOD_DNS_NAMES[0]}]
         --out DIR [--ttl 24h] [--once]
         [--bootstrap FILE --xds-address host:port [--pod-name P] [--pod-ip IP] [--labels k=v,...]]`;

const VALUES = [
  "token-file", "namespace", "service-account", "data-dir", "ca-address", "ca-root", "ca-server-name",
  "out", "ttl", "bootstrap", "xds-address", "pod-name", "pod-ip", "labels",
];

export const workloadCertsCommand: Command = {
  summary: "obtain and rotate a proxyless gRPC workload's certificates and write its xDS bootstrap",
  async run(args: string[]): Promise<number> {
    let flags: Flags;
    try {
      flags = parseFlags(args, { values: VALUES, booleans: ["once"] });
      required(flags, "ca-address");
      required(flags, "out");
      if (flags.has("bootstrap")) required(flags, "xds-address");
    } catch (e) {
      if (!(e instanceof FlagError)) throw e;
      console.error(`meshward workload-certs: ${e.message}\n${USAGE}`);
      return 2;
    }
    const token = await tokenSource(flags);
    if (token === undefined) {
      console.error(`meshward workload-certs: give --token-file or --namespace and --service-account\n${USAGE}`);
      return 2;
    }
    const caRoot = flags.get("ca-root");
    const rootPem = caRoot === undefined ? undefined : await fs.readFile(caRoot, "utf8");
    const credentials = rootPem === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(Buffer.from(rootPem));
    const client = new CaClient(required(flags, "ca-address"), credentials, {
      "grpc.ssl_target_name_override": flags.get("ca-server-name") ?? ISTIOD_DNS_NAMES[0],
    });
    const ttl = flags.has("ttl") ? parseDurationSeconds(flags.get("ttl") ?? "", "ttl") : undefined;
    let bootstrapWritten = false;
    const onRenewed = async (r: RenewedCertificate): Promise<void> => {
      console.log(`workload-certs: ${flags.get("out")} renewed for ${r.identity.namespace}/${r.identity.serviceAccount}, expires ${r.notAfter.toISOString()}, next renewal ${r.renewAt.toISOString()}`);
      const file = flags.get("bootstrap");
      if (file === undefined || bootstrapWritten) return;
      const bootstrap = grpcXdsBootstrap({
        xdsAddress: required(flags, "xds-address"),
        certDir: required(flags, "out"),
        namespace: r.identity.namespace,
        serviceAccount: r.identity.serviceAccount,
        podName: flags.get("pod-name") ?? process.env.POD_NAME ?? `${r.identity.serviceAccount}-proxyless`,
        podIp: flags.get("pod-ip") ?? process.env.INSTANCE_IP ?? "127.0.0.1",
        labels: parseLabels(flags.get("labels")),
      });
      await writeFileAtomic(file, JSON.stringify(bootstrap, null, 2) + "\n", PUBLIC_FILE_MODE);
      bootstrapWritten = true;
    };
    const agent = new WorkloadCertificateAgent({
      outDir: required(flags, "out"),
      client,
      token,
      ttlSeconds: ttl,
      extraRoots: rootPem,
      onRenewed,
      onError: (e) => console.error(`workload-certs: renewal failed, retrying: ${e.message}`),
    });
    const once = flags.get("once") === "true";
    try {
      await (once ? agent.renew() : agent.start());
    } catch (e) {
      console.error(`meshward workload-certs: ${(e as Error).message}`);
      agent.stop();
      client.close();
      return 1;
    }
    if (!once) {
      await new Promise<void>((resolve) => {
        for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
      });
    }
    agent.stop();
    client.close();
    return 0;
  },
};

async function tokenSource(flags: Flags): Promise<(() => Promise<string>) | undefined> {
  const tokenFile = flags.get("token-file");
  if (tokenFile !== undefined) return async () => (await fs.readFile(tokenFile, "utf8")).trim();
  const namespace = flags.get("namespace");
  const serviceAccount = flags.get("service-account");
  if (namespace === undefined || serviceAccount === undefined) return undefined;
  const key = await TokenKey.loadOrCreate(flags.get("data-dir") ?? ".meshward");
  return async () => key.mint({ namespace, serviceAccount, ttlSeconds: 600 });
}

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of (text ?? "").split(",").filter((p) => p !== "")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new FlagError(`--labels entry "${pair}" is not key=value`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}
