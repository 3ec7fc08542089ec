// The node agent: kernel events from the tracer -> attribution -> process tree -> rules ->
// signals (streamed to the control plane) and the exec audit. It never acts on workloads; it
// only observes, and stopping it detaches every eBPF program.
import { unwatchFile, watchFile } from "node:fs";
import { join } from "node:path";
import type { Signal } from "../gen/meshward/agent/v1/signals_pb.js";
import { Attributor } from "./attribution/attribution.js";
import { CgroupIndex, cgroupIdOf, cgroupV1Ssid, findCgroup2Mount } from "./attribution/cgroup-index.js";
import { watchNodePods } from "./attribution/apiserver-pods.js";
import type { KubeClient } from "../kube/client.js";
import type { Informer } from "../kube/informer.js";
import { fetchKubeletPods, PodDirectory, podsFromMappingFile, type KubeletSource } from "./attribution/pod-directory.js";
import { RuleEngine } from "./detections/engine.js";
import { UserNamespaceTracker } from "./detections/userns.js";
import { ExecAudit, type ExecAuditRetention } from "./exec-audit.js";
import type { KernelEvent, TracerHello, TracerRecord } from "./native/event-layout.js";
import { Tracer, type TracerOptions } from "./native/tracer.js";
import { ProcessTree } from "./process-tree.js";
import { buildSignal, ttyName } from "./signal-builder.js";
import type { SignalSender } from "./signal-sender.js";

export interface NodeAgentOptions {
  readonly node: string;
  readonly dataDir: string;
  readonly rulesFile?: string;
  /** Pod mapping file (uid -> namespace, name, service account, labels, containers). */
  readonly podsFile?: string;
  readonly kubelet?: KubeletSource;
  /** Watch this node's pods in the apiserver with this client (preferred over the kubelet). */
  readonly apiserver?: KubeClient;
  readonly tracer?: Omit<TracerOptions, "onRecord" | "onError">;
  /** Cgroup directories (absolute) watched in addition to the kubepods roots. */
  readonly extraWatchRoots?: readonly string[];
  /**
   * Attribute and filter on this cgroup v1 controller's hierarchy (e.g. "memory") for nodes whose
   * kubelet runs on cgroup v1. Default: v2, or "memory" when no v2 hierarchy is mounted.
   */
  readonly cgroupV1Controller?: string;
  /** Exec audit bounds (defaults: 14 days, 250,000 records). */
  readonly auditRetention?: ExecAuditRetention;
  readonly log?: (msg: string) => void;
}

export interface NodeAgentStats {
  events: bigint;
  signals: number;
  audited: number;
  tracerErrors: number;
  ringbufDrops: bigint;
  throttled: bigint;
  emitted: bigint;
}

export class NodeAgent {
  readonly tree: ProcessTree;
  readonly rules = new RuleEngine();
  private readonly userns = new UserNamespaceTracker();
  readonly pods = new PodDirectory();
  private podWatch: Informer | undefined;
  readonly audit: ExecAudit;
  private readonly attributor: Attributor;
  private readonly tracer: Tracer;
  private readonly watchedRoots = new Map<string, bigint>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly signalListeners: Array<(s: Signal) => void> = [];
  private hello: TracerHello | undefined;
  private statsBase = { ringbufDrops: 0n, throttled: 0n, emitted: 0n };
  private sender: SignalSender | undefined;
  readonly counters: NodeAgentStats = { events: 0n, signals: 0, audited: 0, tracerErrors: 0, ringbufDrops: 0n, throttled: 0n, emitted: 0n };

  constructor(private readonly opts: NodeAgentOptions) {
    const v1 = opts.cgroupV1Controller ?? (findCgroup2Mount() === undefined ? "memory" : undefined);
    const root = findCgroup2Mount(undefined, v1);
    if (root === undefined) throw new Error(v1 ? `no cgroup v1 "${v1}" hierarchy mounted` : "no cgroup v2 hierarchy mounted");
    const ssid = v1 === undefined ? undefined : cgroupV1Ssid(v1);
    if (v1 !== undefined && ssid === undefined) throw new Error(`cgroup controller "${v1}" is not in /proc/cgroups`);
    this.tree = new ProcessTree(opts.node);
    this.attributor = new Attributor(new CgroupIndex(root, v1, opts.extraWatchRoots), this.pods);
    this.audit = new ExecAudit(join(opts.dataDir, "exec-audit.db"), opts.auditRetention);
    this.tracer = new Tracer({
      ...opts.tracer,
      ...(ssid !== undefined ? { cgroupV1Ssid: ssid } : {}),
      onRecord: (r) => this.onRecord(r),
      onError: (err) => {
        this.counters.tracerErrors++;
        this.log(`tracer: ${err.message}`);
      },
    });
  }

  private log(msg: string): void {
    this.opts.log?.(msg);
  }

  get cgroupRoot(): string {
    return this.attributor.cgroups.root;
  }

  get tracerPid(): number | undefined {
    return this.tracer.pid;
  }

  get tracerHello(): TracerHello | undefined {
    return this.hello;
  }

  onSignal(listener: (s: Signal) => void): void {
    this.signalListeners.push(listener);
  }

  attachSender(sender: SignalSender): void {
    this.sender = sender;
  }

  async start(): Promise<void> {
    this.reloadPods();
    this.loadRules();
    await this.tracer.start();
    this.refreshWatchRoots();
    this.timers.push(setInterval(() => this.refreshWatchRoots(), 1000));
    this.timers.push(setInterval(() => this.tree.prune(), 30_000));
    this.audit.prune(); // not on open: `meshward agent audit` reads the file without the agent's bounds
    this.timers.push(setInterval(() => this.audit.prune(), 3600_000));
    if (this.opts.apiserver) {
      this.podWatch = watchNodePods({ client: this.opts.apiserver, node: this.opts.node, onPods: (p) => this.pods.setApiserverPods(p), log: (l) => this.log(`apiserver pods: ${l}`) });
    }
    if (this.opts.kubelet) {
      const poll = (): void => {
        fetchKubeletPods(this.opts.kubelet!).then((p) => this.pods.setKubeletPods(p), (err: Error) => this.log(`kubelet: ${err.message}`));
      };
      poll();
      this.timers.push(setInterval(poll, 10_000));
    }
    for (const t of this.timers) t.unref();
    if (this.opts.rulesFile) watchFile(this.opts.rulesFile, { interval: 500 }, () => this.loadRules());
    if (this.opts.podsFile) watchFile(this.opts.podsFile, { interval: 500 }, () => this.reloadPods());
  }

  private loadRules(): void {
    if (!this.opts.rulesFile) return;
    const err = this.rules.loadFile(this.opts.rulesFile);
    if (err) this.log(`rules rejected, keeping the previous rules: ${err.message}`);
    else this.log(`rules loaded from ${this.opts.rulesFile}: ${this.rules.rules.length} active`);
  }

  /** Re-reads the pod mapping file (also done on change by polling). */
  reloadPods(): void {
    if (!this.opts.podsFile) return;
    try {
      this.pods.setFilePods(podsFromMappingFile(this.opts.podsFile));
    } catch (err) {
      this.log(`pod mapping rejected, keeping the previous one: ${(err as Error).message}`);
    }
  }

  /** Puts the kubepods roots (and configured extra roots) in the kernel's scope, re-checking ids. */
  refreshWatchRoots(): void {
    const roots = this.attributor.cgroups.kubepodsRoots();
    for (const dir of roots) {
      const id = cgroupIdOf(dir);
      const prev = this.watchedRoots.get(dir);
      if (id === prev) continue;
      if (prev !== undefined) this.tracer.unwatch(prev);
      if (id === undefined) {
        this.watchedRoots.delete(dir);
        continue;
      }
      this.watchedRoots.set(dir, id);
      this.tracer.watch(id);
    }
  }

  private onRecord(r: TracerRecord): void {
    if (r.kind === "hello") {
      // A (re)started tracer counts from zero: keep the totals across restarts.
      this.statsBase = { ringbufDrops: this.counters.ringbufDrops, throttled: this.counters.throttled, emitted: this.counters.emitted };
      this.hello = r;
      this.log(`tracer attached ${r.attached.length} hooks${r.failed.length ? `, not available here: ${r.failed.join(", ")}` : ""}`);
      return;
    }
    if (r.kind === "stats") {
      const drops = this.statsBase.ringbufDrops + r.ringbufDrops;
      if (drops > this.counters.ringbufDrops) this.log(`ring buffer full: ${drops - this.counters.ringbufDrops} events dropped in the kernel (total ${drops})`);
      this.counters.ringbufDrops = drops;
      this.counters.throttled = this.statsBase.throttled + r.throttled;
      this.counters.emitted = this.statsBase.emitted + r.emitted;
      return;
    }
    this.counters.events++;
    this.onEvent(r);
  }

  private onEvent(ev: KernelEvent): void {
    const attribution = this.attributor.attribute(ev.proc.cgroupId, ev.proc.tgid);
    const p = this.tree.observe(ev);
    if (ev.kind === "exec") {
      if (ev.proc.tty !== 0 && p.interactiveRoot === undefined && attribution.containerId !== undefined) p.interactiveRoot = p.execId;
      if (p.interactiveRoot !== undefined) {
        this.counters.audited++;
        this.audit.record({
          time: new Date(Number((ev.proc.ktimeNs + (this.hello?.bootToRealtimeNs ?? 0n)) / 1_000_000n)).toISOString(),
          node: this.opts.node, podUid: attribution.podUid ?? "", podNamespace: attribution.pod?.namespace ?? "",
          podName: attribution.pod?.name ?? "", containerId: attribution.containerId ?? "", containerName: attribution.containerName ?? "",
          execId: p.execId, parentExecId: p.parentExecId, sessionExecId: p.interactiveRoot, pid: ev.proc.tgid, uid: ev.proc.uid,
          tty: ttyName(ev.proc.tty), binary: ev.filename, argv: ev.args, ancestors: this.tree.ancestors(p.execId).map((a) => a.binary),
        });
      }
    }
    const ctx = { event: ev, process: p, attribution, inCreatedUserNamespace: this.userns.observe(ev, p) };
    const matched = this.rules.evaluate(ctx);
    if (matched.length === 0) return;
    const ancestors = this.tree.ancestors(p.execId);
    for (const rule of matched) {
      const s = buildSignal(this.opts.node, rule, ctx, ancestors, this.hello?.bootToRealtimeNs ?? 0n);
      this.counters.signals++;
      this.sender?.enqueue(s);
      for (const l of this.signalListeners) l(s);
    }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.podWatch?.stop();
    if (this.opts.rulesFile) unwatchFile(this.opts.rulesFile);
    if (this.opts.podsFile) unwatchFile(this.opts.podsFile);
    await this.tracer.stop();
    this.audit.close();
  }
}
