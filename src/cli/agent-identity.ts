// The node identity part of `meshward agent`: its flags, their defaults and checks, and starting
// the identity socket (src/agent/identity/) beside the detections. Kept apart from agent.ts so the
// identity and detection flags evolve without touching each other.
import type * as grpc from "@grpc/grpc-js";
import { Severity } from "../gen/meshward/agent/v1/signals_pb.js";
import type { NodeAgent } from "../agent/node-agent.js";
import { CaClient } from "../ca/ca-api.js";
import { parseExecutableSelector, type ExecutableSelector } from "../agent/identity/attestation.js";
import { caPodIssuer, isCaRefusal } from "../agent/identity/ca-issuer.js";
import { DEFAULT_IDENTITY_SOCKET, DEFAULT_SOCKET_MODE } from "../agent/identity/identity-socket.js";
import { DEFAULT_CUT_SEVERITY, NodeIdentity } from "../agent/identity/node-identity.js";
import { DEFAULT_CUT_HOLD_MS } from "../agent/identity/pod-certificates.js";
import { WithheldWatch } from "../agent/identity/withheld-watch.js";
import { FlagError, parseDurationSeconds } from "./flags.js";

const CUT_SEVERITY = Severity[DEFAULT_CUT_SEVERITY].toLowerCase();

export const IDENTITY_USAGE = `  --identity-socket <path>   node identity socket: SDS + SPIFFE Workload API for the pods on this node, callers
                             identified from the kernel (default ${DEFAULT_IDENTITY_SOCKET}, mode 0${DEFAULT_SOCKET_MODE.toString(8)}; "none": off)
  --ca-address <host:port>   the CA the agent asks for its pods' certificates as this node (default: --control-plane;
                             the node token then needs audience istio-ca too: --audience meshward-signals,istio-ca)
  --trust-domain <td>        trust domain of the pods' SPIFFE IDs (default cluster.local)
  --workload-cert-ttl <d>    lifetime asked for the pods' certificates (default: the CA's, 24h); rotated at half
  --identity-cut-severity <s> a detection at or above this severity cuts the pod's identity at once
                             (info|low|medium|high|critical, default ${CUT_SEVERITY})
  --identity-cut-hold <d>    how long a cut holds before the agent asks the CA again (default ${DEFAULT_CUT_HOLD_MS / 1000}s)
  --identity-recheck <d>     re-issue every pod's certificate at least this often, so a control-plane quarantine
                             reaches the node within it (one CA signature per pod each time; default: off,
                             only at half the lifetime)
  --identity-exe <ns/sa=path:/p|ns/sa=sha256:h>  only these executables get that identity (repeatable;
                             default: none, every process of the pod gets it)`;

export const IDENTITY_OPTIONS = {
  "identity-socket": { type: "string", default: DEFAULT_IDENTITY_SOCKET },
  "ca-address": { type: "string" },
  "trust-domain": { type: "string", default: "cluster.local" },
  "workload-cert-ttl": { type: "string" },
  "identity-cut-severity": { type: "string", default: CUT_SEVERITY },
  "identity-cut-hold": { type: "string", default: `${DEFAULT_CUT_HOLD_MS / 1000}s` },
  "identity-recheck": { type: "string" },
  "identity-exe": { type: "string", multiple: true },
} as const;

export interface IdentityFlagValues {
  readonly "identity-socket": string;
  readonly "ca-address"?: string;
  readonly "trust-domain": string;
  readonly "workload-cert-ttl"?: string;
  readonly "identity-cut-severity": string;
  readonly "identity-cut-hold": string;
  readonly "identity-recheck"?: string;
  readonly "identity-exe"?: readonly string[];
}

export interface AgentIdentityDeps {
  readonly node: string;
  readonly agent: NodeAgent;
  /** The signal stream's address, the CA's by default. */
  readonly controlPlane: string;
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions: grpc.ChannelOptions;
  readonly token: () => string | undefined;
  readonly cgroupV1Controller?: string;
  readonly log: (msg: string) => void;
}

function executableSelectors(texts: readonly string[]): Map<string, ExecutableSelector[]> {
  const out = new Map<string, ExecutableSelector[]>();
  for (const text of texts) {
    let parsed;
    try {
      parsed = parseExecutableSelector(text, "--identity-exe");
    } catch (e) {
      throw new FlagError((e as Error).message);
    }
    out.set(parsed.key, [...(out.get(parsed.key) ?? []), parsed.selector]);
  }
  return out;
}

/** The identity flags, checked before anything starts (a bad flag fails the command with exit 2). */
export interface AgentIdentityConfig {
  readonly socket: string;
  readonly caAddress?: string;
  readonly trustDomain: string;
  readonly cutSeverity: Severity;
  readonly cutHoldMs: number;
  readonly recheckMs?: number;
  readonly ttlSeconds?: number;
  readonly executableSelectors: ReadonlyMap<string, readonly ExecutableSelector[]>;
}

export function identityConfigFrom(values: IdentityFlagValues): AgentIdentityConfig | undefined {
  const cutSeverity = Severity[values["identity-cut-severity"].toUpperCase() as keyof typeof Severity];
  if (typeof cutSeverity !== "number" || cutSeverity === Severity.UNSPECIFIED) {
    throw new FlagError(`--identity-cut-severity "${values["identity-cut-severity"]}": want info, low, medium, high or critical`);
  }
  const recheck = values["identity-recheck"];
  const ttl = values["workload-cert-ttl"];
  const config: AgentIdentityConfig = {
    socket: values["identity-socket"],
    ...(values["ca-address"] !== undefined ? { caAddress: values["ca-address"] } : {}),
    trustDomain: values["trust-domain"],
    cutSeverity,
    cutHoldMs: parseDurationSeconds(values["identity-cut-hold"], "identity-cut-hold") * 1000,
    ...(recheck !== undefined ? { recheckMs: parseDurationSeconds(recheck, "identity-recheck") * 1000 } : {}),
    ...(ttl !== undefined ? { ttlSeconds: parseDurationSeconds(ttl, "workload-cert-ttl") } : {}),
    executableSelectors: executableSelectors(values["identity-exe"] ?? []),
  };
  return config.socket === "none" ? undefined : config;
}

/** Starts the identity socket beside the running agent. */
export async function startAgentIdentity(config: AgentIdentityConfig | undefined, deps: AgentIdentityDeps): Promise<{ stop(): Promise<void> } | undefined> {
  if (config === undefined) return undefined;
  const caAddress = config.caAddress ?? deps.controlPlane;
  const ca = new CaClient(caAddress, deps.credentials, deps.channelOptions);
  const identity = new NodeIdentity({
    node: deps.node, trustDomain: config.trustDomain, socketPath: config.socket, pods: deps.agent.pods,
    ...(deps.cgroupV1Controller !== undefined ? { cgroupV1Controller: deps.cgroupV1Controller } : {}),
    issuer: caPodIssuer(ca, deps.token), isRefusal: isCaRefusal, cutSeverity: config.cutSeverity, cutHoldMs: config.cutHoldMs,
    executableSelectors: config.executableSelectors,
    ...(config.ttlSeconds !== undefined ? { ttlSeconds: config.ttlSeconds } : {}), ...(config.recheckMs !== undefined ? { recheckMs: config.recheckMs } : {}),
    log: deps.log,
  });
  deps.agent.onSignal((s) => identity.onSignal(s));
  try {
    await identity.start();
  } catch (e) {
    ca.close();
    throw e;
  }
  // The control plane's quarantines and releases reach the node at once through the signal API's server.
  const watch = new WithheldWatch({
    address: deps.controlPlane, credentials: deps.credentials, channelOptions: deps.channelOptions, token: deps.token,
    onUpdate: (entries) => identity.applyWithheld(entries), log: deps.log,
  });
  watch.start();
  deps.log(`node ${deps.node}: identity socket ${config.socket} (SDS, SPIFFE Workload API), certificates from ${caAddress}`);
  return {
    async stop() {
      watch.stop();
      await identity.stop();
      ca.close();
    },
  };
}
