// Push benchmark: N simulated Envoy sidecars (one gRPC connection and ADS stream each, spread over
// worker processes) of S services sync from an XdsServer in this process, their resources built by
// the real pipeline (bench/push-mesh.ts); then one change touches every proxy and each proxy's
// convergence is measured from the change being applied (config rebuilt, provider updated) to that
// proxy's ACK of the changed resource, on this process's monotonic clock.
//   --change endpoint (default): a new endpoint of svc-0, in every sidecar's EDS;
//   --change authz: an update of the root-namespace AuthorizationPolicy, in every sidecar's
//     inbound listener (LDS).
//   --reconnect-storm: instead of a change, every sidecar drops its connection at a random moment
//     within --storm-window-ms (default 10,000) and reconnects at once; reports the time until all
//     have ACKed their full config again, the server's peak RSS during the storm, and whether any
//     sidecar came back holding other resource names than before (lost or extra) or was sent a
//     response naming one resource twice (duplicated), and that the server holds one stream each.
//     --storm-timeout-s T (default 120): how long after the window to wait for every resync.
//   --gateways G: G router proxies (ingress gateways) besides the sidecars, selected by one Gateway
//     with S virtual hosts (one VirtualService per service); they count in convergence (the endpoint
//     change reaches their EDS too), and their config bytes are reported apart.
//   --sidecar-scope K: measures the change without Sidecars, then applies a Sidecar per namespace
//     limiting each proxy to K services (how long until every proxy ACKed its smaller CDS), then
//     measures the change again; reports one sidecar's config bytes and convergence in both states.
//   --server-workers W: the server's streams in W stream worker processes (src/xds/workers/;
//     default 0: one thread, as before); memory and CPU figures then add the workers' to this process's.
//   --max-concurrent-syncs C: the server's sync gate (src/xds/sync-gate.ts; default
//     DEFAULT_SYNC_LIMITS's 64); a number above --proxies turns it off, as before the gate.
// Usage: npm run bench:xds-push -- --proxies N --services S [--gateways G] [--change endpoint|authz] [--sidecar-scope K] [--reconnect-storm [--storm-window-ms M] [--storm-timeout-s T]] [--workers W] [--server-workers W] [--max-concurrent-syncs C] [--debounce-ms D]
// Prints figures; the last line is one JSON object. Never pass/fail on time.
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Session } from "node:inspector";
import { readFileSync, writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { DEFAULT_DEBOUNCE_MS, XdsServer, type XdsAckEvent, type XdsPushEvent, type XdsStreams } from "../src/xds/server.js";
import { XdsWorkerPool } from "../src/xds/workers/pool.js";
import { DEFAULT_SYNC_LIMITS } from "../src/xds/sync-gate.js";
import { listenGrpc } from "../src/xds/listen.js";
import { Metrics } from "../src/telemetry/metrics.js";
import { TypeUrl } from "../src/xds/types.js";
import { outboundCluster, PushMesh } from "./push-mesh.js";
import { intFlag } from "./args.js";
import { percentile } from "./stats.js";

function changeFlag(): "endpoint" | "authz" {
  const i = process.argv.indexOf("--change");
  const v = i >= 0 ? process.argv[i + 1] : "endpoint";
  if (v !== "endpoint" && v !== "authz") throw new Error(`--change: want endpoint or authz, got "${v}"`);
  return v;
}

/** With XDS_PUSH_PROFILE=<file>, a V8 CPU profile of the server during the change phase. */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const session = new Session();
  session.connect();
  const post = (method: string): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, (err, res) => (err ? reject(err) : resolve(res))));
  await post("Profiler.enable");
  await post("Profiler.start");
  return async (file) => {
    const res = (await post("Profiler.stop")) as { profile: unknown };
    writeFileSync(file, JSON.stringify(res.profile));
    console.log(`xds-push: change-phase CPU profile written to ${file}`);
  };
}

/** A memory figure of processes summed, from /proc/<pid>/status (Linux): VmRSS now, VmHWM peak. */
function statusBytes(children: readonly ChildProcess[], field: "VmRSS" | "VmHWM"): number {
  let bytes = 0;
  for (const c of children) {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${c.pid}/status`, "utf8"));
    bytes += Number(m?.[1] ?? NaN) * 1024;
  }
  return bytes;
}

/** CPU seconds (user + system) a child process has used so far, from /proc (Linux). */
function childCpuSeconds(children: readonly ChildProcess[]): number {
  let ticks = 0;
  for (const c of children) {
    try {
      // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
      const stat = readFileSync(`/proc/${c.pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return NaN;
    }
  }
  return ticks / 100; // USER_HZ
}

const round = (n: number): number => Math.round(n * 10) / 10;

interface StormProgress {
  resynced: number;
  mismatched: number;
  duplicates: number;
  /** Reconnections that failed before syncing (reset or refused) and were tried again. */
  retries: number;
  /** Why they failed, and how often. */
  reasons: Record<string, number>;
}

/** Runs the reconnect storm over the synced sidecars (see the header) and returns its figures. */
async function reconnectStorm(children: readonly ChildProcess[], proxies: number, windowMs: number, timeoutS: number, nacks: () => number, xds: XdsStreams, serverRss: () => number, rssBase: number) {
  const progress = new Map<ChildProcess, StormProgress>();
  const nacksBefore = nacks();
  let peakRss = serverRss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, serverRss())), 50);
  const t0 = performance.now();
  const done = new Promise<void>((resolve) => {
    for (const c of children) {
      c.on("message", (m: Partial<StormProgress>) => {
        if (m.resynced === undefined) return;
        progress.set(c, { resynced: m.resynced, mismatched: m.mismatched ?? 0, duplicates: m.duplicates ?? 0, retries: m.retries ?? 0, reasons: m.reasons ?? {} });
        const total = [...progress.values()].reduce((a, p) => a + p.resynced, 0);
        if (total % 2000 === 0) console.log(`xds-push: storm: ${total}/${proxies} resynced (${round((performance.now() - t0) / 1000)} s)`);
        if (total === proxies) resolve();
      });
      c.send({ storm: windowMs });
    }
  });
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, windowMs + timeoutS * 1000).unref());
  await Promise.race([done, timeout]);
  const allResyncedMs = performance.now() - t0;
  clearInterval(sampler);
  // Old streams end as their connections close; give the last closes a moment to be seen.
  await new Promise((r) => setTimeout(r, 1000));
  const sum = (f: (p: StormProgress) => number): number => [...progress.values()].reduce((a, p) => a + f(p), 0);
  const ids = xds.proxies().map((p) => p.id);
  const result = {
    stormWindowMs: windowMs,
    resynced: sum((p) => p.resynced),
    allResyncedMs: round(allResyncedMs),
    peakRssBytes: peakRss,
    lostOrExtra: sum((p) => p.mismatched),
    duplicated: sum((p) => p.duplicates),
    retries: sum((p) => p.retries),
    retryReasons: Object.fromEntries(
      [...progress.values()]
        .flatMap((p) => Object.entries(p.reasons))
        .reduce((m, [k, n]) => m.set(k, (m.get(k) ?? 0) + n), new Map<string, number>()),
    ),
    serverStreams: ids.length,
    distinctProxies: new Set(ids).size,
    nacks: nacks() - nacksBefore,
  };
  console.log(
    `xds-push: reconnect storm over ${windowMs} ms: ${result.resynced}/${proxies} sidecars resynced, the last ${round(allResyncedMs - windowMs)} ms after the window closed ` +
      `(${round(allResyncedMs)} ms after the storm began); server peak RSS ${peakRss} bytes (${Math.round((peakRss - rssBase) / proxies)} bytes per proxy over the idle server's ${rssBase}); ` +
      `${result.lostOrExtra} came back holding other names, ${result.duplicated} responses named a resource twice, ${result.retries} reconnections failed and were retried; ` +
      `(why: ${JSON.stringify(result.retryReasons)}); the server holds ${result.serverStreams} streams for ${result.distinctProxies} distinct proxies; NACKs ${result.nacks}`,
  );
  return result;
}

interface ChangeContext {
  readonly mesh: PushMesh;
  readonly xds: XdsStreams;
  /** The stream worker processes, whose CPU and memory count as the server's. */
  readonly serverWorkers: readonly ChildProcess[];
  readonly children: readonly ChildProcess[];
  /** Every proxy the change reaches (sidecars and gateways). */
  readonly proxies: number;
  /** The sidecars among them (a Sidecar applies to them only). */
  readonly sidecars: number;
  readonly change: "endpoint" | "authz";
  readonly debounceMs: number;
  readonly bytesCounter: ReturnType<Metrics["counter"]>;
}

/** `--sidecar-scope K`: undefined when absent; K services per proxy, fewer than S (else nothing changes). */
function sidecarScopeFlag(services: number): number | undefined {
  if (!process.argv.includes("--sidecar-scope")) return undefined;
  const scope = intFlag("sidecar-scope", services);
  if (scope >= services) throw new Error(`--sidecar-scope: want fewer than --services (${services}) services, got ${scope}`);
  return scope;
}

/**
 * Applies a Sidecar per namespace limiting each proxy to `scope` services, and measures how long
 * until every proxy ACKed its (smaller) CDS, from the change being handed to the model.
 */
async function applySidecars(ctx: ChangeContext, scope: number) {
  const converged = new Map<string, number>();
  let t0 = Infinity;
  let onAck: (e: XdsAckEvent) => void = () => {};
  const done = new Promise<void>((resolve) => {
    onAck = (e) => {
      if (e.typeUrl !== TypeUrl.Cluster || !e.proxyId.startsWith("sidecar~") || e.timeMs - e.latencyMs < t0 || converged.has(e.proxyId)) return;
      converged.set(e.proxyId, e.timeMs - t0);
      if (converged.size === ctx.sidecars) resolve();
    };
    ctx.xds.on("ack", onAck);
  });
  const bytes0 = await ctx.bytesCounter.get();
  t0 = performance.now();
  ctx.mesh.limitSidecars(scope);
  await Promise.race([done, new Promise<void>((resolve) => setTimeout(resolve, 120_000).unref())]);
  ctx.xds.off("ack", onAck);
  const times = [...converged.values()].sort((a, b) => a - b);
  const figures = { convergeMsP50: round(percentile(times, 50)), convergeMsP99: round(percentile(times, 99)), converged: converged.size, bytesSent: (await ctx.bytesCounter.get()) - bytes0 };
  console.log(`xds-push: Sidecars limiting each proxy to ${scope} services applied: ${figures.converged}/${ctx.sidecars} sidecars ACKed their new CDS, p50 ${figures.convergeMsP50} ms, p99 ${figures.convergeMsP99} ms, ${figures.bytesSent} bytes sent`);
  // Let the rest of the re-push (listeners, routes) settle before the next measurement.
  await new Promise((r) => setTimeout(r, 2000));
  return figures;
}

/** One change touching every proxy; convergence from the change being handed to the model to each proxy's ACK. */
async function measureChange(ctx: ChangeContext) {
  const { mesh, xds, children, proxies, change, debounceMs, bytesCounter } = ctx;
  const profile = process.env["XDS_PUSH_PROFILE"] ? await startProfile() : undefined;
  // The change, handed to the model as a new config set; convergence counts from then, so it
  // includes the snapshot rebuild and the server's debounce.
  const converged = new Map<string, number>();
  const pushedAt: number[] = [];
  const pushToAck: number[] = [];
  const changed = change === "endpoint" ? { typeUrl: TypeUrl.ClusterLoadAssignment, name: outboundCluster(0) } : { typeUrl: TypeUrl.Listener, name: "virtualInbound" };
  const onPush = (e: XdsPushEvent): void => {
    if (e.typeUrl === changed.typeUrl && e.timeMs >= t0 && e.names.includes(changed.name)) pushedAt.push(e.timeMs - t0);
  };
  xds.on("push", onPush);
  const cpu0 = process.cpuUsage();
  const workersCpu0 = childCpuSeconds(ctx.serverWorkers);
  const clientCpu0 = childCpuSeconds(children);
  const bytes0 = await bytesCounter.get();
  let t0 = Infinity;
  let onAck: (e: XdsAckEvent) => void = () => {};
  const done = new Promise<void>((resolve) => {
    onAck = (e) => {
      if (e.typeUrl !== changed.typeUrl || e.timeMs - e.latencyMs < t0 || !e.names.includes(changed.name) || converged.has(e.proxyId)) return;
      converged.set(e.proxyId, e.timeMs - t0);
      pushToAck.push(e.latencyMs);
      if (converged.size === proxies) resolve();
    };
    xds.on("ack", onAck);
  });
  t0 = performance.now();
  if (change === "endpoint") mesh.addEndpoint();
  else mesh.updateRootPolicy();
  console.log(`xds-push: change "${change}": snapshot rebuilt and provider updated in ${round(performance.now() - t0)} ms (part of convergence)`);
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, 120_000).unref());
  await Promise.race([done, timeout]);
  xds.off("ack", onAck);
  xds.off("push", onPush);
  const cpu = process.cpuUsage(cpu0);
  const workersCpu = childCpuSeconds(ctx.serverWorkers) - workersCpu0;
  const clientCpu = childCpuSeconds(children) - clientCpu0;
  if (profile) await profile(process.env["XDS_PUSH_PROFILE"] ?? "");
  const bytesSent = (await bytesCounter.get()) - bytes0;
  const times = [...converged.values()].sort((a, b) => a - b);
  if (converged.size < proxies) console.log(`xds-push: only ${converged.size}/${proxies} converged within 120 s`);
  const routerTimes = [...converged.entries()].filter(([id]) => id.startsWith("router~")).map(([, t]) => t).sort((a, b) => a - b);
  const result = {
    routerTimes,
    convergeMsP50: round(percentile(times, 50)),
    convergeMsP99: round(percentile(times, 99)),
    convergeMsMax: round(times[times.length - 1] ?? NaN),
    cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4 + workersCpu * 100) / 100,
    peakRssBytes: process.resourceUsage().maxRSS * 1024 + statusBytes(ctx.serverWorkers, "VmHWM"),
    bytesSent,
  };
  pushToAck.sort((a, b) => a - b);
  console.log(
    `xds-push: the server pushed the change to ${pushedAt.length} streams between ${round(pushedAt[0] ?? NaN)} and ${round(pushedAt[pushedAt.length - 1] ?? NaN)} ms; ` +
      `push-to-ACK p50 ${round(percentile(pushToAck, 50))} ms, p99 ${round(percentile(pushToAck, 99))} ms`,
  );
  console.log(
    `xds-push: convergence includes the ${debounceMs} ms debounce (p50 ${round(percentile(times, 50) - debounceMs)} ms, p99 ${round(percentile(times, 99) - debounceMs)} ms without it); ` +
      `cpuSeconds and bytesSent are the server's during the change (the simulated proxies used ${round(clientCpu * 100) / 100} CPU-seconds)`,
  );
  return result;
}

async function main(): Promise<void> {
  const proxies = intFlag("proxies", 1000);
  const services = intFlag("services", 100);
  const workers = Math.min(proxies, intFlag("workers", proxies <= 2000 ? 2 : 4));
  const change = changeFlag();
  const debounceMs = intFlag("debounce-ms", DEFAULT_DEBOUNCE_MS, 0);
  const gateways = intFlag("gateways", 0, 0);
  if (gateways > 0 && (changeFlag() !== "endpoint" || process.argv.includes("--reconnect-storm"))) throw new Error("--gateways: only with --change endpoint (the change every router sees)");

  const buildStart = performance.now();
  const mesh = new PushMesh(services, proxies, gateways);
  console.log(`xds-push: mesh config (${services} ServiceEntries and DestinationRules, ${proxies} WorkloadEntries) built in ${round(performance.now() - buildStart)} ms`);
  const metrics = new Metrics();
  let nacks = 0;
  const serverWorkerCount = intFlag("server-workers", 0, 0);
  const syncLimits = { maxConcurrentSyncs: intFlag("max-concurrent-syncs", DEFAULT_SYNC_LIMITS.maxConcurrentSyncs) };
  let xds: XdsStreams;
  let port: number;
  let stopServer: () => void;
  if (serverWorkerCount > 0) {
    const pool = await XdsWorkerPool.start({ provider: mesh, metrics, debounceMs, syncLimits, log: (l) => console.error(l), workers: serverWorkerCount, address: "127.0.0.1:0" });
    xds = pool;
    port = Number(pool.address.slice(pool.address.lastIndexOf(":") + 1));
    stopServer = () => void pool.stop();
  } else {
    const single = new XdsServer({ provider: mesh, metrics, debounceMs, syncLimits, log: (l) => console.error(l) });
    const server = new grpc.Server();
    single.addTo(server);
    xds = single;
    // As meshward serve listens (src/xds/listen.ts).
    const listener = await listenGrpc(server, "127.0.0.1:0", grpc.ServerCredentials.createInsecure());
    port = Number(listener.address.slice(listener.address.lastIndexOf(":") + 1));
    stopServer = () => (listener.close(), single.close(), server.forceShutdown());
  }
  const serverWorkers = xds instanceof XdsWorkerPool ? xds.workerProcesses() : [];
  /** The server's resident memory: this process and its stream workers. */
  const serverRss = (): number => process.memoryUsage().rss + statusBytes(serverWorkers, "VmRSS");
  xds.on("nack", () => nacks++);
  const bytesCounter = metrics.counter("meshward_xds_sent_bytes_total", "");
  // Baseline: server listening, resources built and encoded, no proxy connected.
  const rssBase = serverRss();
  console.log(`xds-push: ${proxies} proxies of ${services} services over ${workers} worker processes; one sidecar's resources ${mesh.encodedBytes()} bytes; server streams in ${serverWorkerCount > 0 ? `${serverWorkerCount} stream worker processes` : "one thread"}, ${syncLimits.maxConcurrentSyncs} initial syncs at once${serverWorkerCount > 0 ? " per worker" : ""}`);
  const routerBytes = gateways > 0 ? mesh.encodedBytes("router") : 0;
  if (gateways > 0) console.log(`xds-push: ${gateways} gateways (router proxies) with ${services} virtual hosts each over one more worker; one gateway's resources ${routerBytes} bytes`);
  const total = proxies + gateways;

  // Connect and sync every sidecar.
  const setupStart = performance.now();
  const script = fileURLToPath(new URL("./xds-push-client.js", import.meta.url));
  const children: ChildProcess[] = [];
  const syncedBy = new Map<ChildProcess, number>();
  let errors = 0;
  const allSynced = new Promise<void>((resolve) => {
    const per = Math.ceil(proxies / workers);
    for (let w = 0; w < workers; w++) {
      const first = w * per;
      const count = Math.min(per, proxies - first);
      const child = fork(script, [`127.0.0.1:${port}`, String(first), String(count), String(services)], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
      children.push(child);
    }
    if (gateways > 0) children.push(fork(script, [`127.0.0.1:${port}`, "0", String(gateways), String(services), "", "router"], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] }));
    for (const child of children) {
      child.on("message", (m: { synced?: number; error?: string }) => {
        if (m.error !== undefined && errors++ < 5) console.error(`xds-push: client error: ${m.error}`);
        if (m.synced === undefined) return;
        syncedBy.set(child, m.synced);
        const synced = [...syncedBy.values()].reduce((a, b) => a + b, 0);
        if (synced % 2000 === 0 || synced === total) console.log(`xds-push: ${synced}/${total} synced (${round((performance.now() - setupStart) / 1000)} s)`);
        if (synced === total) resolve();
      });
    }
  });
  await allSynced;
  const setupBytes = await bytesCounter.get();
  // Let the initial pushes' buffers drain before measuring steady memory.
  await new Promise((r) => setTimeout(r, 1000));
  const { heapUsed, external } = process.memoryUsage();
  const rssSynced = serverRss();
  console.log(
    `xds-push: setup ${round((performance.now() - setupStart) / 1000)} s, ${setupBytes} bytes sent, RSS ${rssSynced} bytes ` +
      `(${Math.round((rssSynced - rssBase) / proxies)} bytes per connected proxy over the idle server's ${rssBase}; JS heap ${heapUsed}, external ${external})`,
  );

  if (process.argv.includes("--reconnect-storm")) {
    const result = await reconnectStorm(children, proxies, intFlag("storm-window-ms", 10_000), intFlag("storm-timeout-s", 120), () => nacks, xds, serverRss, rssBase);
    for (const c of children) c.send({ stop: true });
    stopServer();
    console.log(JSON.stringify({ proxies, services, maxConcurrentSyncs: syncLimits.maxConcurrentSyncs, ...result }));
    process.exit(0);
  }

  const ctx: ChangeContext = { mesh, xds, serverWorkers, children, proxies: total, sidecars: proxies, change, debounceMs, bytesCounter };
  const gatewayFigures = (figures: { routerTimes: readonly number[] }): Record<string, unknown> =>
    gateways > 0 ? { gateways, gatewayBytes: routerBytes, sidecarBytes: mesh.encodedBytes(), gatewayConvergeMsP50: round(percentile([...figures.routerTimes], 50)), gatewayConvergeMsMax: round(figures.routerTimes[figures.routerTimes.length - 1] ?? NaN) } : {};
  const scope = sidecarScopeFlag(services);
  let result: Record<string, unknown>;
  if (scope === undefined) {
    const { routerTimes, ...figures } = await measureChange(ctx);
    result = { proxies, services, ...gatewayFigures({ routerTimes }), ...figures, nacks };
  } else {
    const { routerTimes: routersWithout, ...before } = await measureChange(ctx);
    const without = { bytesPerProxy: mesh.encodedBytes(), ...gatewayFigures({ routerTimes: routersWithout }), ...before };
    const apply = await applySidecars(ctx, scope);
    const { routerTimes: routersWith, ...after } = await measureChange(ctx);
    const withScope = { bytesPerProxy: mesh.encodedBytes(), ...gatewayFigures({ routerTimes: routersWith }), ...after };
    console.log(
      `xds-push: one sidecar's resources ${without.bytesPerProxy} bytes without a Sidecar, ${withScope.bytesPerProxy} bytes with one limiting it to ${scope} of ${services} services; ` +
        `"${change}" convergence p50 ${without.convergeMsP50} -> ${withScope.convergeMsP50} ms, p99 ${without.convergeMsP99} -> ${withScope.convergeMsP99} ms`,
    );
    result = { proxies, services, sidecarScope: scope, without, with: withScope, applySidecars: apply, nacks };
  }
  for (const c of children) c.send({ stop: true });
  stopServer();
  console.log(JSON.stringify({ ...result, serverWorkers: serverWorkerCount, rssPerProxyBytes: Math.round((rssSynced - rssBase) / proxies) }));
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
