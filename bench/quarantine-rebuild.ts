// What a quarantine costs the mesh side, without gRPC or the kernel: N sidecars of S services
// (bench/push-mesh.ts's mesh) are translated once, then one pod is quarantined (the risk stage's
// AuthorizationPolicy and WorkloadEnforcement overlay objects join the config set) and the
// snapshot is rebuilt, and every sidecar's resources are asked for again in the order an
// enforcement round asks (EDS first, then the rest). Reports the time of each step (medians of
// --iterations quarantine/release pairs, in CPU milliseconds of this process) and how many
// resources were re-encoded.
// Usage: npm run bench:quarantine-rebuild -- [--proxies N] [--services S] [--iterations K]
// Prints figures; the last line is one JSON object. Never pass/fail on time.
import { parseProxyNode, type Proxy } from "../src/model/proxy.js";
import { create } from "@bufbuild/protobuf";
import { NodeSchema } from "../src/gen/envoy/config/core/v3/base_pb.js";
import { enforcementOverlay } from "../src/risk/enforcement-overlay.js";
import { routingOverlay } from "../src/risk/routing-overlay.js";
import type { Enforcement } from "../src/risk/quarantine.js";
import { TypeUrl } from "../src/xds/types.js";
import { PushMesh, serviceApp, serviceNamespace, sidecarIp } from "./push-mesh.js";
import { intFlag } from "./args.js";
import { percentile } from "./stats.js";

const round = (n: number): number => Math.round(n * 10) / 10;

function sidecar(index: number, services: number): Proxy {
  const svc = index % services;
  const ns = serviceNamespace(svc);
  const pod = `${serviceApp(svc)}-${index}`;
  return parseProxyNode(
    create(NodeSchema, {
      id: `sidecar~${sidecarIp(index)}~${pod}.${ns}~${ns}.svc.cluster.local`,
      metadata: { NAMESPACE: ns, LABELS: { app: serviceApp(svc) }, SERVICE_ACCOUNT: serviceApp(svc) },
    }),
  );
}

function quarantineOf(index: number, services: number): Enforcement {
  const svc = index % services;
  const pod = { uid: `uid-${index}`, namespace: serviceNamespace(svc), name: `${serviceApp(svc)}-${index}`, serviceAccount: serviceApp(svc), labels: { app: serviceApp(svc) }, ip: sidecarIp(index) };
  return {
    id: `quarantine-${index}`,
    action: "quarantine",
    scope: "pod",
    pod,
    identity: { trustDomain: "cluster.local", namespace: pod.namespace, serviceAccount: pod.serviceAccount },
    reason: "bench",
    signalId: `signal-${index}`,
    verdictId: `verdict-${index}`,
    policy: "bench",
    createdAtMs: 0,
  };
}

function main(): void {
  const proxies = intFlag("proxies", 1000);
  const services = intFlag("services", 100);
  const iterations = intFlag("iterations", 10);
  const mesh = new PushMesh(services, proxies);
  const all = Array.from({ length: proxies }, (_, i) => sidecar(i, services));
  // CPU time of this thread rather than wall time: on a shared machine the wall clock mostly
  // measures the neighbours.
  const cpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const ask = (types: readonly TypeUrl[]): number => {
    const t = cpuMs();
    for (const p of all) for (const type of types) mesh.resources(p, type);
    return cpuMs() - t;
  };
  const rest = [TypeUrl.Cluster, TypeUrl.Listener, TypeUrl.RouteConfiguration];
  ask([TypeUrl.ClusterLoadAssignment, ...rest]);
  const steps = { rebuild: [] as number[], firstPhase: [] as number[], rest: [] as number[], encodes: [] as number[], groups: [] as number[] };
  for (let i = 0; i < iterations * 2; i++) {
    const quarantined = i % 2 === 0 ? [quarantineOf(1 + (i >> 1), services)] : [];
    const before = mesh.stats().encodes;
    const t = cpuMs();
    mesh.setOverlay([...enforcementOverlay(quarantined), ...routingOverlay(quarantined)]);
    const rebuild = cpuMs() - t;
    const firstPhase = ask([TypeUrl.ClusterLoadAssignment]);
    const restMs = ask(rest);
    if (i % 2 !== 0 || i < 2) continue; // quarantines only; the first is a warm-up
    steps.rebuild.push(rebuild);
    steps.firstPhase.push(firstPhase);
    steps.rest.push(restMs);
    steps.encodes.push(mesh.stats().encodes - before);
    steps.groups.push(mesh.stats().groups);
  }
  const med = (xs: number[]): number => round(percentile([...xs].sort((a, b) => a - b), 50));
  const result = {
    proxies,
    services,
    rebuildCpuMs: med(steps.rebuild),
    firstPhaseCpuMs: med(steps.firstPhase),
    restCpuMs: med(steps.rest),
    encodes: med(steps.encodes),
    groups: med(steps.groups),
  };
  console.log(
    `quarantine-rebuild: ${proxies} sidecars of ${services} services, median of ${steps.rebuild.length} quarantines, CPU time: snapshot rebuilt and provider updated in ${result.rebuildCpuMs} ms; ` +
      `every sidecar's EDS (first phase: what cuts the pod off; other types are encoded when asked) ${result.firstPhaseCpuMs} ms, the rest ${result.restCpuMs} ms; ${result.encodes} resources encoded, ${result.groups} proxy groups`,
  );
  console.log(JSON.stringify(result));
}

main();
