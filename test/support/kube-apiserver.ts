// A real kube-apiserver + etcd for the Kubernetes tests (test/kube/start.sh, binaries built once
// per machine by test/kube/build.sh from the Go module proxy, cached in ~/.cache/kas-local/bin).
//
// `sharedKubeApiserver()` starts one instance per mocha process, on first use, and stops it when
// the process exits: tests share it and keep apart by using their own namespaces (`uniqueName`).
// `startKubeApiserver()` starts a private one (several clusters, restarts); the caller stops it.
// Missing binaries are a skip outside CI and an error with CI=true, like the other real peers.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./grpc-go-peer.js";

export interface KubeApiserver {
  /** The admin kubeconfig (client certificate, `system:masters`). */
  readonly kubeconfig: string;
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** The serving CA's PEM file. */
  readonly caFile: string;
  /** A static admin bearer token (`system:masters`). */
  readonly adminToken: string;
  /** The state directory (certs, logs, etcd data). */
  readonly state: string;
  /** Stops the apiserver only (etcd and its data stay) and starts it again on the same port. */
  restartApiserver(): void;
  stop(): void;
}

export type KubeApiserverBinaries = { readonly bin: string } | { readonly skip: string };

const kasBin = (): string => process.env["KAS_BIN"] ?? join(homedir(), ".cache", "kas-local", "bin");
const script = (): string => join(repoRoot(), "test", "kube", "start.sh");

/** Whether the binaries are there; with CI=true their absence is an error, never a skip. */
export function kubeApiserverBinaries(): KubeApiserverBinaries {
  const bin = kasBin();
  if (existsSync(join(bin, "kube-apiserver")) && existsSync(join(bin, "etcd"))) return { bin };
  const why = `no kube-apiserver/etcd in ${bin} (run ./scripts/setup.sh, which builds them with test/kube/build.sh)`;
  if (process.env["CI"] === "true") throw new Error(`the Kubernetes tests must run in CI: ${why}`);
  return { skip: why };
}

function run(args: readonly string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync("bash", [script(), ...args], { env: { ...process.env, ...env }, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`start.sh ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Starts a private apiserver + etcd; the caller stops it. */
export function startKubeApiserver(opts: { readonly extraArgs?: string } = {}): KubeApiserver {
  const state = mkdtempSync(join(tmpdir(), "meshward-kas-"));
  const env: NodeJS.ProcessEnv = { KAS_STATE: state, KAS_BIN: kasBin(), ...(opts.extraArgs !== undefined ? { KAS_EXTRA_ARGS: opts.extraArgs } : {}) };
  run(["up"], env);
  const vars = new Map<string, string>();
  for (const line of readFileSync(join(state, "env"), "utf8").split("\n")) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (m) vars.set(m[1]!, m[2]!);
  }
  const url = vars.get("KAS_URL")!;
  let stopped = false;
  return {
    kubeconfig: join(state, "kubeconfig"),
    url,
    caFile: join(state, "ca.crt"),
    adminToken: vars.get("KAS_TOKEN")!,
    state,
    restartApiserver: () => void run(["restart-apiserver"], { ...env, KAS_PORT: new URL(url).port }),
    stop: () => {
      if (stopped) return;
      stopped = true;
      run(["down"], { ...env, KAS_STOP_SIGNAL: "KILL" });
    },
  };
}

let shared: KubeApiserver | undefined;

/** One apiserver for the whole mocha process, started on first use. */
export function sharedKubeApiserver(): KubeApiserver {
  if (shared === undefined) {
    shared = startKubeApiserver();
    const s = shared;
    process.once("exit", () => s.stop());
  }
  return shared;
}

/**
 * For a mocha `before` hook: the shared apiserver, or the suite is skipped with a printed reason
 * (outside CI only). Raises the hook's timeout for the first start.
 */
export function kubeApiserverOrSkip(ctx: Mocha.Context): KubeApiserver {
  const b = kubeApiserverBinaries();
  if ("skip" in b) {
    console.log(`      skipped: ${b.skip}`);
    ctx.skip();
  }
  ctx.timeout(180_000);
  return sharedKubeApiserver();
}

let nameCounter = 0;
/** A name no other test in this run uses (namespaces never finish deleting without a controller manager). */
export function uniqueName(prefix: string): string {
  nameCounter += 1;
  return `${prefix}-${process.pid}-${nameCounter}-${Date.now().toString(36)}`;
}

/** Directory of a Go module from the module cache, downloading it from the Go module proxy once. */
export function goModuleDir(module: string, version: string): string {
  const go = existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : "go";
  const r = spawnSync(go, ["mod", "download", "-json", `${module}@${version}`], { encoding: "utf8", timeout: 300_000, cwd: tmpdir(), env: { ...process.env, GOFLAGS: "-mod=mod" } });
  if (r.status !== 0) throw new Error(`go mod download ${module}@${version} failed: ${r.stderr}${r.stdout}`);
  const dir = (JSON.parse(r.stdout) as { Dir?: string }).Dir;
  if (dir === undefined) throw new Error(`go mod download ${module}@${version}: no Dir in ${r.stdout}`);
  return dir;
}

/** The Kubernetes Gateway API's standard-channel CRDs as shipped in the sigs.k8s.io/gateway-api Go module. */
export function gatewayApiCrdsYaml(): string {
  const dir = join(goModuleDir("sigs.k8s.io/gateway-api", "v1.6.0"), "config", "crd", "standard");
  return ["gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants"].map((k) => readFileSync(join(dir, `gateway.networking.k8s.io_${k}.yaml`), "utf8")).join("\n---\n");
}

/** Istio's CRDs (all kinds, all served versions) as shipped in the istio.io/api Go module. */
export function istioCrdsYaml(): string {
  return readFileSync(join(goModuleDir("istio.io/api", "v1.32.0"), "kubernetes", "customresourcedefinitions.gen.yaml"), "utf8");
}
