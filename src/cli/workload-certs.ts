// `meshward workload-certs`: istio-agent's job for a proxyless gRPC pod. Obtains and rotates
// cert-chain.pem / key.pem / root-cert.pem in --out and writes the gRPC xDS bootstrap: from the CA
// with a token, or with --from-node-agent from the node agent's identity socket with no token.
import * as grpc from "@grpc/grpc-js";
import { promises as fs } from "node:fs";
import { CaClient } from "../ca/ca-api.js";
import { writeFileAtomic, PUBLIC_FILE_MODE } from "../ca/atomic-file.js";
import { grpcXdsBootstrap } from "../ca/grpc-bootstrap.js";
import { startXdsRelay, type XdsRelay } from "../ca/xds-relay.js";
import { ISTIOD_DNS_NAMES } from "../ca/serving-credentials.js";
import { WorkloadCertificateAgent, type RenewedCertificate } from "../ca/workload-agent.js";
import { TokenKey } from "../security/token-key.js";
import { DEFAULT_IDENTITY_SOCKET } from "../agent/identity/identity-socket.js";
import { NodeAgentCertificates } from "../agent/identity/workload-api-client.js";
import { DATA_DIR_OPTION, FlagError, parseDurationSeconds, parseFlags, parseLabels, required, runCommand } from "./flags.js";
import type { Command } from "./main.js";

const USAGE = `usage: meshward workload-certs (--token-file F | --namespace N --service-account S [--data-dir D])
         --ca-address host:port [--ca-root root.pem] [--ca-server-name ${ISTIOD_DNS_NAMES[0]}]
         --out DIR [--ttl 24h] [--once]
         [--bootstrap FILE --xds-address host:port [--xds-relay unix:///path] [--pod-name P] [--pod-ip IP] [--labels k=v,...]]
       meshward workload-certs --from-node-agent [--socket ${DEFAULT_IDENTITY_SOCKET}] --out DIR [--once] [--bootstrap ...]
         the pod's certificates from the node agent's identity socket (SPIFFE Workload API), no token:
         the agent identifies the pod from the kernel and pushes rotations (--ttl is the agent's then)
  --xds-relay  serve xDS to the pod here (plaintext, the pod's own socket) and forward it to --xds-address
               over the CA's TLS with the token; the bootstrap then names the relay (default: none, the
               bootstrap names --xds-address itself)
  The bootstrap's node metadata takes the pod's node from $NODE_NAME (the downward API's, as
  istio-agent does; default: none), and --pod-name / --pod-ip default to $POD_NAME / $INSTANCE_IP.`;

const OPTIONS = {
  "token-file": { type: "string" },
  namespace: { type: "string" },
  "service-account": { type: "string" },
  ...DATA_DIR_OPTION,
  "ca-address": { type: "string" },
  "ca-root": { type: "string" },
  "ca-server-name": { type: "string", default: ISTIOD_DNS_NAMES[0] },
  out: { type: "string" },
  ttl: { type: "string" },
  bootstrap: { type: "string" },
  "xds-address": { type: "string" },
  "xds-relay": { type: "string" },
  "pod-name": { type: "string" },
  "pod-ip": { type: "string" },
  labels: { type: "string" },
  once: { type: "boolean", default: false },
  "from-node-agent": { type: "boolean", default: false },
  socket: { type: "string", default: DEFAULT_IDENTITY_SOCKET },
} as const;

type Flags = ReturnType<typeof parseFlags<typeof OPTIONS>>["values"];

export const workloadCertsCommand: Command = {
  summary: "obtain and rotate a proxyless gRPC workload's certificates and write its xDS bootstrap",
  run: (args) =>
    runCommand("workload-certs", USAGE, async () => {
      const { values: flags } = parseFlags(args, OPTIONS);
      const out = required(flags.out, "out");
      const bootstrapFile = flags.bootstrap;
      const xdsAddress = bootstrapFile !== undefined ? required(flags["xds-address"], "xds-address") : "";
      const labels = parseLabels(flags.labels);
      if (flags["from-node-agent"]) {
        for (const f of ["ca-address", "token-file", "namespace", "service-account", "ttl"] as const) {
          if (flags[f] !== undefined) throw new FlagError(`--${f} does not apply with --from-node-agent (the node agent asks the CA)`);
        }
        return fromNodeAgent(flags, { caAddress: "", out, bootstrapFile, xdsAddress, labels, ttl: undefined, token: () => Promise.resolve("") });
      }
      const caAddress = required(flags["ca-address"], "ca-address");
      const ttl = flags.ttl !== undefined ? parseDurationSeconds(flags.ttl, "ttl") : undefined;
      const token = await tokenSource(flags);
      if (token === undefined) throw new FlagError("give --token-file or --namespace and --service-account");
      return renewCertificates(flags, { caAddress, out, bootstrapFile, xdsAddress, labels, ttl, token });
    }),
};

interface Plan {
  readonly caAddress: string;
  readonly out: string;
  readonly bootstrapFile: string | undefined;
  readonly xdsAddress: string;
  readonly labels: Record<string, string>;
  readonly ttl: number | undefined;
  readonly token: () => Promise<string>;
}

/** Logs each renewal and writes the bootstrap once the identity is known. */
function renewalReporter(flags: Flags, plan: Plan, bootstrapXdsAddress = plan.xdsAddress): (r: RenewedCertificate) => Promise<void> {
  let bootstrapWritten = false;
  return async (r: RenewedCertificate): Promise<void> => {
    console.log(`workload-certs: ${plan.out} renewed for ${r.identity.namespace}/${r.identity.serviceAccount}, expires ${r.notAfter.toISOString()}, next renewal ${r.renewAt.toISOString()}`);
    if (plan.bootstrapFile === undefined || bootstrapWritten) return;
    const bootstrap = grpcXdsBootstrap({
      xdsAddress: bootstrapXdsAddress,
      certDir: plan.out,
      namespace: r.identity.namespace,
      serviceAccount: r.identity.serviceAccount,
      podName: flags["pod-name"] ?? process.env.POD_NAME ?? `${r.identity.serviceAccount}-proxyless`,
      podIp: flags["pod-ip"] ?? process.env.INSTANCE_IP ?? "127.0.0.1",
      labels: plan.labels,
      // The node the pod runs on (downward API), as istio-agent passes it: the control plane
      // places the pod on it, which is how a node agent's signal about the pod is believed.
      ...(process.env.NODE_NAME ? { nodeName: process.env.NODE_NAME } : {}),
    });
    await writeFileAtomic(plan.bootstrapFile, JSON.stringify(bootstrap, null, 2) + "\n", PUBLIC_FILE_MODE);
    bootstrapWritten = true;
  };
}

function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
  });
}

async function fromNodeAgent(flags: Flags, plan: Plan): Promise<number> {
  const caRoot = flags["ca-root"];
  const source = new NodeAgentCertificates({
    socketPath: flags.socket,
    outDir: plan.out,
    ...(caRoot !== undefined ? { extraRoots: await fs.readFile(caRoot, "utf8") } : {}),
    onRenewed: renewalReporter(flags, plan),
    onError: (e) => console.error(`workload-certs: ${e.message}; retrying`),
  });
  if (flags.once) {
    await source.once();
    return 0;
  }
  await source.start();
  await untilSignal();
  source.stop();
  return 0;
}

async function renewCertificates(flags: Flags, plan: Plan): Promise<number> {
  const caRoot = flags["ca-root"];
  const rootPem = caRoot === undefined ? undefined : await fs.readFile(caRoot, "utf8");
  const credentials = rootPem === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(Buffer.from(rootPem));
  const client = new CaClient(plan.caAddress, credentials, { "grpc.ssl_target_name_override": flags["ca-server-name"] });
  const relayAt = flags["xds-relay"];
  let relay: XdsRelay | undefined;
  if (relayAt !== undefined && plan.bootstrapFile !== undefined) {
    relay = await startXdsRelay({
      listen: relayAt,
      upstream: plan.xdsAddress,
      credentials,
      channelOptions: { "grpc.ssl_target_name_override": flags["ca-server-name"] },
      token: plan.token,
      log: (l) => console.error(`workload-certs: ${l}`),
    });
  }
  const onRenewed = renewalReporter(flags, plan, relay?.address);
  const agent = new WorkloadCertificateAgent({
    outDir: plan.out,
    client,
    token: plan.token,
    ttlSeconds: plan.ttl,
    extraRoots: rootPem,
    onRenewed,
    onError: (e) => console.error(`workload-certs: renewal failed, retrying: ${e.message}`),
  });
  try {
    await (flags.once ? agent.renew() : agent.start());
  } catch (e) {
    agent.stop();
    client.close();
    relay?.close();
    throw e;
  }
  if (!flags.once) await untilSignal();
  agent.stop();
  client.close();
  relay?.close();
  return 0;
}

async function tokenSource(flags: Flags): Promise<(() => Promise<string>) | undefined> {
  const tokenFile = flags["token-file"];
  if (tokenFile !== undefined) return async () => (await fs.readFile(tokenFile, "utf8")).trim();
  const namespace = flags.namespace;
  const serviceAccount = flags["service-account"];
  if (namespace === undefined || serviceAccount === undefined) return undefined;
  const key = await TokenKey.loadOrCreate(flags["data-dir"]);
  return async () => key.mint({ namespace, serviceAccount, ttlSeconds: 600 });
}
