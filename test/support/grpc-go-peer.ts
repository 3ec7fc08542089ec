// grpc-go as a second real xDS client and server (test/interop/grpc-go/xdspeer): builds the peer
// once per content of its Go module (go-build.ts, cached in the temp dir) and spawns it
// with a bootstrap. The peer prints one JSON object per stdout line; `Peer` collects them so tests
// can wait for and assert on events.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildGoBinary, type GoBinary } from "./go-build.js";

/** The checkout this file belongs to, whether it runs from test/ or dist/test/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("no package.json above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export type PeerBinary = GoBinary;

let building: Promise<PeerBinary> | undefined;

/**
 * The built xdspeer binary, or why it cannot be had. Go missing is a skip outside CI only: with
 * CI=true it throws, so CI cannot pass without running grpc-go.
 */
export function grpcGoPeer(): Promise<PeerBinary> {
  building ??= buildGoBinary({
    what: "grpc-go peer",
    dir: join(repoRoot(), "test", "interop", "grpc-go"),
    pkg: "./xdspeer",
    cacheName: "meshward-grpc-go",
    binary: "xdspeer",
  });
  return building;
}

/**
 * For a mocha `before` hook: the binary's path, or the hook skips the suite with a printed reason.
 * The first build may take minutes, so the hook's timeout is raised here.
 */
export async function grpcGoPeerOrSkip(hook: Mocha.Context): Promise<string> {
  hook.timeout(600_000);
  const built = await grpcGoPeer();
  if ("path" in built) return built.path;
  console.log(`      skipping grpc-go interop: ${built.skip}`);
  return hook.skip();
}

/** One JSON line from the peer. */
export type PeerEvent = { readonly event: string } & Readonly<Record<string, unknown>>;

/** An xDS node as a proxyless gRPC workload of pod `pod` presents itself (istiod's reading, src/model/proxy.ts). */
export interface ProxylessNode {
  readonly id: string;
  readonly metadata: { readonly [k: string]: string | { readonly [k: string]: string } };
}

export function proxylessNode(pod: string, namespace: string, labels: Readonly<Record<string, string>>, ip = "127.0.0.1"): ProxylessNode {
  return {
    id: `sidecar~${ip}~${pod}.${namespace}~${namespace}.svc.cluster.local`,
    metadata: { GENERATOR: "grpc", NAMESPACE: namespace, SERVICE_ACCOUNT: pod, LABELS: { ...labels } },
  };
}

export interface GrpcGoBootstrapOptions {
  readonly xdsAddress: string;
  readonly node: ProxylessNode;
  /** bootstrap certificate_providers (file_watcher) for xDS credentials. */
  readonly certificateProviders?: Readonly<Record<string, unknown>>;
}

/** bootstrap certificate_providers with one file_watcher instance named "default" (gRFC A29). */
export function fileWatcherProvider(certificateFile: string, privateKeyFile: string, caCertificateFile: string): Record<string, unknown> {
  return {
    default: {
      plugin_name: "file_watcher",
      config: { certificate_file: certificateFile, private_key_file: privateKeyFile, ca_certificate_file: caCertificateFile, refresh_interval: "600s" },
    },
  };
}

/** The inbound listener template meshward's proxyless translator serves (as Istio's agent writes it). */
export const serverListenerTemplate = "xds.istio.io/grpc/lds/inbound/%s";

/** A grpc-go bootstrap for meshward on a plaintext loopback address. */
export function grpcGoBootstrap(o: GrpcGoBootstrapOptions): Record<string, unknown> {
  return {
    xds_servers: [{ server_uri: o.xdsAddress, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
    node: { id: o.node.id, locality: {}, metadata: o.node.metadata },
    server_listener_resource_name_template: serverListenerTemplate,
    ...(o.certificateProviders ? { certificate_providers: o.certificateProviders } : {}),
  };
}

export class Peer {
  readonly events: PeerEvent[] = [];
  private stderrTail = "";
  private readonly waiters = new Set<() => void>();
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly name: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    let partial = "";
    child.stdout.on("data", (b: Buffer) => {
      partial += b.toString();
      let nl: number;
      while ((nl = partial.indexOf("\n")) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (line.trim() === "") continue;
        try {
          this.events.push(JSON.parse(line) as PeerEvent);
        } catch {
          this.events.push({ event: "unparsed", line });
        }
      }
      this.wake();
    });
    child.stderr.on("data", (b: Buffer) => {
      this.stderrTail = (this.stderrTail + b.toString()).slice(-8000);
    });
    // "close", not "exit": it comes after stdout is drained, so no last line is missed.
    child.on("close", (code, signal) => {
      this.exited = { code, signal };
      this.wake();
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Recent stderr (grpc-go's own logs), for failure messages. */
  get stderr(): string {
    return this.stderrTail;
  }

  /** Waits for the first event at or after `from` matching `pred`; fails with the peer's output after `timeoutMs`. */
  waitFor(pred: (e: PeerEvent) => boolean, what: string, timeoutMs = 30_000, from = 0): Promise<PeerEvent> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.events.slice(from).find(pred);
        if (hit !== undefined) return finish(() => resolve(hit));
        if (this.exited !== undefined) return finish(() => reject(this.failure(`exited (${JSON.stringify(this.exited)}) before ${what}`)));
        return false;
      };
      const timer = setTimeout(() => finish(() => reject(this.failure(`no ${what} within ${timeoutMs} ms`))), timeoutMs);
      const finish = (f: () => void): true => {
        clearTimeout(timer);
        this.waiters.delete(onEvent);
        f();
        return true;
      };
      const onEvent = (): void => void check();
      if (!check()) this.waiters.add(onEvent);
    });
  }

  /** Waits until `n` events at or after `from` match `pred`; returns them. */
  async waitForCount(pred: (e: PeerEvent) => boolean, n: number, what: string, timeoutMs = 30_000, from = 0): Promise<PeerEvent[]> {
    const found: PeerEvent[] = [];
    let at = from;
    while (found.length < n) {
      const e = await this.waitFor(pred, `${what} (${found.length + 1} of ${n})`, timeoutMs, at);
      found.push(e);
      at = this.events.indexOf(e, at) + 1;
    }
    return found;
  }

  failure(message: string): Error {
    const events = this.events.slice(-20).map((e) => JSON.stringify(e)).join("\n");
    return new Error(`grpc-go peer ${this.name}: ${message}\n--- last events ---\n${events}\n--- stderr tail ---\n${this.stderrTail}`);
  }

  /** The port of a server peer, from its "listening" line. */
  async listeningPort(): Promise<number> {
    const addr = String((await this.waitFor((e) => e.event === "listening", "listening line"))["addr"]);
    const port = Number(addr.split(":").pop());
    if (!(port > 0)) throw this.failure(`bad listening address ${addr}`);
    return port;
  }

  /** Sends one command line to a client started with `--calls 0`. */
  send(line: string): void {
    this.child.stdin.write(line + "\n");
  }

  /** Runs `call n` on an interactive client and returns the call results. */
  async call(n: number, deadlineMs = 20_000): Promise<PeerEvent[]> {
    const from = this.events.length;
    this.send(`call ${n} ${deadlineMs}`);
    await this.waitFor((e) => e.event === "done", `the end of "call ${n}"`, n * deadlineMs + 10_000, from);
    return this.events.slice(from).filter((e) => e.event === "call");
  }

  async stop(): Promise<void> {
    if (this.exited !== undefined) return;
    const gone = new Promise<void>((resolve) => this.child.once("close", () => resolve()));
    this.child.kill("SIGTERM");
    const force = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(force);
  }
}

export interface SpawnOptions {
  /** Passed as GRPC_XDS_BOOTSTRAP_CONFIG; omit for a plain (non-xDS) server. */
  readonly bootstrap?: Record<string, unknown>;
  readonly env?: Readonly<Record<string, string>>;
}

/** Starts the peer (`client ...` or `server ...` arguments). */
export function spawnPeer(binary: string, name: string, args: readonly string[], opts: SpawnOptions = {}): Peer {
  // Only the bootstrap given here counts, never one inherited from the test's environment.
  const env: Record<string, string | undefined> = { ...process.env };
  delete env["GRPC_XDS_BOOTSTRAP"];
  delete env["GRPC_XDS_BOOTSTRAP_CONFIG"];
  Object.assign(env, opts.env ?? {});
  if (opts.bootstrap) env["GRPC_XDS_BOOTSTRAP_CONFIG"] = JSON.stringify(opts.bootstrap);
  const child = spawn(binary, [...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  return new Peer(name, child);
}
