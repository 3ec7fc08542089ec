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
//   --gateways G: G router proxies (ingress gateways) besides the sidecars, selected by one Gateway
//     with S virtual hosts (one VirtualService per service); they count in convergence (the endpoint
//     change reaches their EDS too), and their config bytes are reported apart.
// Usage: npm run bench:xds-push -- --proxies N --services S [--gateways G] [--change endpoint|authz] [--reconnect-storm [--storm-window-ms M]] [--workers W] [--debounce-ms D]
// Prints figures; the last line is one JSON object. Never pass/fail on time.
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Session } from "node:inspector";
import { readFileSync, writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { DEFAULT_DEBOUNCE_MS, XdsServer } from "../src/xds/server.js";
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
}

/** Runs the reconnect storm over the synced sidecars (see the header) and returns its figures. */
async function reconnectStorm(children: readonly ChildProcess[], proxies: number, windowMs: number, nacks: () => number, xds: XdsServer, rssBase: number) {
  const progress = new Map<ChildProcess, StormProgress>();
  const nacksBefore = nacks();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const t0 = performance.now();
  const done = new Promise<void>((resolve) => {
    for (const c of children) {
      c.on("message", (m: Partial<StormProgress>) => {
        if (m.resynced === undefined) return;
        progress.set(c, { resynced: m.resynced, mismatched: m.mismatched ?? 0, duplicates: m.duplicates ?? 0, retries: m.retries ?? 0 });
        const total = [...progress.values()].reduce((a, p) => a + p.resynced, 0);
        if (total % 2000 === 0) console.log(`xds-push: storm: ${total}/${proxies} resynced (${round((performance.now() - t0) / 1000)} s)`);
        if (total === proxies) resolve();
      });
      c.send({ storm: windowMs });
    }
  });
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, windowMs + 120_000).unref());
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
    serverStreams: ids.length,
    distinctProxies: new Set(ids).size,
    nacks: nacks() - nacksBefore,
  };
  console.log(
    `xds-push: reconnect storm over ${windowMs} ms: ${result.resynced}/${proxies} sidecars resynced, the last ${round(allResyncedMs - windowMs)} ms after the window closed ` +
      `(${round(allResyncedMs)} ms after the storm began); server peak RSS ${peakRss} bytes (${Math.round((peakRss - rssBase) / proxies)} bytes per proxy over the idle server's ${rssBase}); ` +
      `${result.lostOrExtra} came back holding other names, ${result.duplicated} responses named a resource twice, ${result.retries} reconnections failed and were retried; ` +
      `the server holds ${result.serverStreams} streams for ${result.distinctProxies} distinct proxies; NACKs ${result.nacks}`,
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
  const xds = new XdsServer({ provider: mesh, metrics, debounceMs, log: (l) => console.error(l) });
  xds.on("nack", () => nacks++);
  const server = new grpc.Server();
  xds.addTo(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const bytesCounter = metrics.counter("meshward_xds_sent_bytes_total", "");
  // Baseline: server listening, resources built and encoded, no proxy connected.
  const rssBase = process.memoryUsage().rss;
  console.log(`xds-push: ${proxies} proxies of ${services} services over ${workers} worker processes; one sidecar's resources ${mesh.encodedBytes()} bytes`);
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
  const setupBytes = bytesCounter.get();
  // Let the initial pushes' buffers drain before measuring steady memory.
  await new Promise((r) => setTimeout(r, 1000));
  const { rss: rssSynced, heapUsed, external } = process.memoryUsage();
  console.log(
    `xds-push: setup ${round((performance.now() - setupStart) / 1000)} s, ${setupBytes} bytes sent, RSS ${rssSynced} bytes ` +
      `(${Math.round((rssSynced - rssBase) / proxies)} bytes per connected proxy over the idle server's ${rssBase}; JS heap ${heapUsed}, external ${external})`,
  );

  if (process.argv.includes("--reconnect-storm")) {
    const result = await reconnectStorm(children, proxies, intFlag("storm-window-ms", 10_000), () => nacks, xds, rssBase);
    for (const c of children) c.send({ stop: true });
    xds.close();
    server.forceShutdown();
    console.log(JSON.stringify({ proxies, services, ...result }));
    process.exit(0);
  }

  const profile = process.env["XDS_PUSH_PROFILE"] ? await startProfile() : undefined;
  // The change, handed to the model as a new config set; convergence counts from then, so it
  // includes the snapshot rebuild and the server's debounce.
  const converged = new Map<string, number>();
  const pushedAt: number[] = [];
  const pushToAck: number[] = [];
  const changed = change === "endpoint" ? { typeUrl: TypeUrl.ClusterLoadAssignment, name: outboundCluster(0) } : { typeUrl: TypeUrl.Listener, name: "virtualInbound" };
  xds.on("push", (e) => {
    if (e.typeUrl === changed.typeUrl && e.timeMs >= t0 && e.names.includes(changed.name)) pushedAt.push(e.timeMs - t0);
  });
  const cpu0 = process.cpuUsage();
  const clientCpu0 = childCpuSeconds(children);
  const bytes0 = await bytesCounter.get();
  let t0 = Infinity;
  const done = new Promise<void>((resolve) => {
    xds.on("ack", (e) => {
      if (e.typeUrl !== changed.typeUrl || e.timeMs - e.latencyMs < t0 || !e.names.includes(changed.name) || converged.has(e.proxyId)) return;
      converged.set(e.proxyId, e.timeMs - t0);
      pushToAck.push(e.latencyMs);
      if (converged.size === total) resolve();
    });
  });
  t0 = performance.now();
  if (change === "endpoint") mesh.addEndpoint();
  else mesh.updateRootPolicy();
  console.log(`xds-push: change "${change}": snapshot rebuilt and provider updated in ${round(performance.now() - t0)} ms (part of convergence)`);
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, 120_000).unref());
  await Promise.race([done, timeout]);
  const cpu = process.cpuUsage(cpu0);
  const clientCpu = childCpuSeconds(children) - clientCpu0;
  if (profile) await profile(process.env["XDS_PUSH_PROFILE"] ?? "");
  const bytesSent = (await bytesCounter.get()) - bytes0;
  const times = [...converged.values()].sort((a, b) => a - b);
  if (converged.size < total) console.log(`xds-push: only ${converged.size}/${total} converged within 120 s`);
  const routerTimes = [...converged.entries()].filter(([id]) => id.startsWith("router~")).map(([, t]) => t).sort((a, b) => a - b);
  const result = {
    proxies,
    services,
    ...(gateways > 0 ? { gateways, gatewayBytes: routerBytes, sidecarBytes: mesh.encodedBytes(), gatewayConvergeMsP50: round(percentile(routerTimes, 50)), gatewayConvergeMsMax: round(routerTimes[routerTimes.length - 1] ?? NaN) } : {}),
    convergeMsP50: round(percentile(times, 50)),
    convergeMsP99: round(percentile(times, 99)),
    convergeMsMax: round(times[times.length - 1] ?? NaN),
    cpuSeconds: round((cpu.user + cpu.system) / 1e6 * 100) / 100,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    bytesSent,
    nacks,
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
  for (const c of children) c.send({ stop: true });
  xds.close();
  server.forceShutdown();
  console.log(JSON.stringify(result));
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
