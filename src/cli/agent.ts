// `meshward agent`: the node agent. Also `meshward agent audit` (search the exec audit).
import * as grpc from "@grpc/grpc-js";
import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { AgentHelloSchema } from "../gen/meshward/agent/v1/signals_pb.js";
import { ExecAudit } from "../agent/exec-audit.js";
import { NodeAgent } from "../agent/node-agent.js";
import { DEFAULT_CLOUD_METADATA, type WatchedAddress } from "../agent/native/tracer.js";
import { parseGoDuration } from "../risk/duration.js";
import { SignalSender } from "../agent/signal-sender.js";
import { DATA_DIR_OPTION, DEFAULT_ADDRESSES, FlagError, parseFlags, runCommand } from "./flags.js";
import { KubeClient, loadKubeConfig } from "../kube/client.js";
import type { Command } from "./main.js";
import { IDENTITY_OPTIONS, IDENTITY_USAGE, identityConfigFrom, startAgentIdentity } from "./agent-identity.js";

const USAGE = `usage: meshward agent [flags]
  --node <name>              node name (default: hostname)
  --control-plane <host:port> signal API of the control plane (default ${DEFAULT_ADDRESSES.xds})
  --token-file <file>        node token, re-read on every reconnect (or MESHWARD_NODE_TOKEN); mint one with
                             meshward token create --namespace meshward-system --service-account node-<name> --audience meshward-signals
  --tls-ca <file>            verify the control plane with this CA (TLS); with --tls-cert/--tls-key: mTLS
                             (a certificate for spiffe://<td>/ns/meshward-system/sa/node-<name>)
  --tls-server-name <name>   name to verify the control plane's certificate against (default: the address's host;
                             meshward's CA serves istiod.istio-system.svc)
  --data-dir <dir>           exec audit and state (default .meshward/)
${IDENTITY_USAGE}
  --rules <file>             custom detection rules (YAML, reloaded on change)
  --pods <file>              pod mapping file (default mesh-config/agent/pods.yaml when present)
  --kube-pods                watch this node's pods in the apiserver (spec.nodeName field selector), with the
                             in-cluster ServiceAccount or --kubeconfig (default off; the DaemonSet turns it on)
  --kubeconfig <file>        kubeconfig for --kube-pods outside a pod (default: in-cluster)
  --kubelet <url>            kubelet to list pods from, e.g. https://127.0.0.1:10250 (fallback to --kube-pods)
  --kubelet-token-file <f>   bearer token for the kubelet;  --kubelet-ca <f>
  --all-processes            report host processes too, not only containers
  --cgroup-v1 <controller>   kubelet on cgroup v1: filter and attribute on this controller (e.g. memory)
  --watch-cgroup <dir>       also watch pods under this cgroup directory (repeatable)
  --rate <n>                 kernel rate limit per cgroup and event type (events/s, default 2000)
  --kube-api <ip:port>       the Kubernetes API server's address (repeatable; default $KUBERNETES_SERVICE_HOST:
                             $KUBERNETES_SERVICE_PORT when set): connects to it raise kube-api-contact
  --cloud-metadata <ip:port> cloud instance-metadata address (repeatable; default 169.254.169.254:80,
                             [fd00:ec2::254]:80, 100.100.100.200:80): connects to it raise cloud-metadata-contact
  --audit-max-age <dur>      exec audit retention by age (Go duration, default 336h = 14 days)
  --audit-max-rows <n>       exec audit retention by size (records, default 250000)
       meshward agent audit --help  (search the exec audit)`;

const AUDIT_USAGE = `usage: meshward agent audit [--data-dir DIR] [--pod P] [--namespace N] [--container C] [--session ID] [--text T] [--since ISO-TIME] [--json]
  --pod        pod name or UID
  --container  container name or id prefix
  --session    exec id of the interactive session (every command run under it)
  --text       substring of the command line`;

function readOptional(file: string | undefined): string | undefined {
  return file === undefined ? undefined : readFileSync(file, "utf8").trim();
}

async function runAudit(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    ...DATA_DIR_OPTION, pod: { type: "string" }, namespace: { type: "string" },
    container: { type: "string" }, text: { type: "string" }, since: { type: "string" }, session: { type: "string" }, json: { type: "boolean" },
  });
  const file = join(values["data-dir"], "exec-audit.db");
  if (!existsSync(file)) {
    console.error(`meshward agent audit: ${file} does not exist (has the agent run with this --data-dir?)`);
    return 1;
  }
  const audit = new ExecAudit(file);
  const rows = audit.search({ pod: values.pod, namespace: values.namespace, container: values.container, text: values.text, since: values.since, session: values.session });
  audit.close();
  for (const r of rows) {
    if (values.json) console.log(JSON.stringify(r));
    else console.log(`${r.time} ${r.podNamespace}/${r.podName} ${r.containerName || r.containerId.slice(0, 12)} uid=${r.uid} tty=${r.tty} ${r.argv.join(" ")}  [${r.ancestors.join(" < ")}]`);
  }
  return 0;
}

/** In a pod, the API server's ClusterIP and port come from the environment the kubelet sets. */
function defaultKubeApi(): string[] {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return [];
  return [host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`];
}

function parseAddress(flag: string, v: string): WatchedAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535 || isIP(m[1] ?? m[2]) === 0) throw new FlagError(`--${flag} "${v}": want <ipv4>:<port> or [<ipv6>]:<port>`);
  return { ip: m[1] ?? m[2], port };
}

async function runAgent(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    node: { type: "string", default: hostname() }, "control-plane": { type: "string", default: DEFAULT_ADDRESSES.xds },
    "token-file": { type: "string" }, "tls-ca": { type: "string" }, "tls-cert": { type: "string" }, "tls-key": { type: "string" }, "tls-server-name": { type: "string" },
    ...DATA_DIR_OPTION, rules: { type: "string" }, pods: { type: "string" },
    ...IDENTITY_OPTIONS,
    "kube-pods": { type: "boolean", default: false }, kubeconfig: { type: "string" },
    kubelet: { type: "string" }, "kubelet-token-file": { type: "string" }, "kubelet-ca": { type: "string" },
    "all-processes": { type: "boolean", default: false }, rate: { type: "string" },
    "cgroup-v1": { type: "string" }, "watch-cgroup": { type: "string", multiple: true },
    "kube-api": { type: "string", multiple: true }, "cloud-metadata": { type: "string", multiple: true }, "audit-max-age": { type: "string" }, "audit-max-rows": { type: "string" },
  });
  const kubeApi = (values["kube-api"] ?? defaultKubeApi()).map((v) => parseAddress("kube-api", v));
  const cloudMetadata = values["cloud-metadata"]?.map((v) => parseAddress("cloud-metadata", v)) ?? DEFAULT_CLOUD_METADATA;
  if (values["audit-max-rows"] !== undefined && !/^[1-9]\d*$/.test(values["audit-max-rows"])) {
    throw new FlagError(`--audit-max-rows "${values["audit-max-rows"]}": want a positive whole number of records`);
  }
  let maxAgeMs: number | undefined;
  if (values["audit-max-age"] !== undefined) {
    const d = parseGoDuration(values["audit-max-age"]);
    if ("error" in d || d.ms <= 0) throw new FlagError(`--audit-max-age "${values["audit-max-age"]}": want a positive Go duration such as 72h`);
    maxAgeMs = d.ms;
  }
  if (values.rate !== undefined && !/^\d+$/.test(values.rate)) throw new FlagError(`--rate "${values.rate}": want a whole number of events per second`);
  const log = (m: string): void => console.error(`${new Date().toISOString()} agent: ${m}`);
  const defaultPods = "mesh-config/agent/pods.yaml";
  const podsFile = values.pods ?? (existsSync(defaultPods) ? defaultPods : undefined);
  const identityConfig = identityConfigFrom(values);
  const agent = new NodeAgent({
    node: values.node, dataDir: values["data-dir"], rulesFile: values.rules, podsFile, log,
    cgroupV1Controller: values["cgroup-v1"], extraWatchRoots: values["watch-cgroup"] ?? [],
    ...(values["kube-pods"] ? { apiserver: new KubeClient(loadKubeConfig(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {})) } : {}),
    kubelet: values.kubelet ? { url: values.kubelet, token: readOptional(values["kubelet-token-file"]), ca: readOptional(values["kubelet-ca"]) } : undefined,
    tracer: { allProcesses: values["all-processes"], kubeApi, cloudMetadata, ...(values.rate ? { ratePerSec: Number(values.rate) } : {}) },
    auditRetention: {
      ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
      ...(values["audit-max-rows"] !== undefined ? { maxRows: Number(values["audit-max-rows"]) } : {}),
    },
  });
  await agent.start();
  const hello = agent.tracerHello;
  const token = (): string | undefined => readOptional(values["token-file"]) ?? process.env.MESHWARD_NODE_TOKEN;
  const credentials = values["tls-ca"]
    ? grpc.credentials.createSsl(readFileSync(values["tls-ca"]), values["tls-key"] ? readFileSync(values["tls-key"]) : null, values["tls-cert"] ? readFileSync(values["tls-cert"]) : null)
    : grpc.credentials.createInsecure();
  const sender = new SignalSender({
    address: values["control-plane"], credentials, token, log, bufferFile: join(values["data-dir"], "signal-buffer.db"),
    ...(values["tls-server-name"] ? { channelOptions: { "grpc.ssl_target_name_override": values["tls-server-name"] } } : {}),
    hello: create(AgentHelloSchema, {
      node: values.node, agentVersion: "0.1.0", hooksAttached: hello?.attached ?? [], hooksFailed: hello?.failed ?? [],
      features: Object.entries(hello?.features ?? {}).filter(([, on]) => on).map(([f]) => f),
    }),
    health: () => ({ ringbufDrops: agent.counters.ringbufDrops, throttled: agent.counters.throttled, events: agent.counters.events }),
  });
  agent.attachSender(sender);
  sender.start();
  log(`node ${values.node}: streaming signals to ${values["control-plane"]}`);
  const identity = await startAgentIdentity(identityConfig, {
    node: values.node, agent, controlPlane: values["control-plane"], credentials, token, log,
    channelOptions: values["tls-server-name"] ? { "grpc.ssl_target_name_override": values["tls-server-name"] } : {},
    ...(values["cgroup-v1"] !== undefined ? { cgroupV1Controller: values["cgroup-v1"] } : {}),
  });
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  log("stopping: detaching eBPF programs");
  await identity?.stop();
  await agent.stop();
  await sender.drained(2000);
  sender.close();
  const s = sender.stats();
  log(`stopped: ${agent.counters.events} events, ${agent.counters.signals} signals, ${s.buffered} unacknowledged, ${s.bufferDrops} dropped from the buffer, ${agent.counters.ringbufDrops} ring-buffer drops`);
  return 0;
}

export const agentCommand: Command = {
  summary: "eBPF node agent: detections, pod attribution, exec audit, signal stream",
  run: (args) => (args[0] === "audit" ? runCommand("agent audit", AUDIT_USAGE, () => runAudit(args.slice(1))) : runCommand("agent", USAGE, () => runAgent(args))),
};
