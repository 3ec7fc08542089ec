// Pods as the connected proxies announce them. Without a Kubernetes source the control plane
// learns a pod's IP and node from its proxy's xDS node: the id `type~<ip>~<pod>.<ns>~...` and the
// NODE_NAME metadata Istio's agent sets from the downward API. The agent names the pod by uid,
// namespace and name; namespace and name find its proxy. What a proxy says of itself is checked
// again here (admission refuses such proxies first): an address that is no single pod IP is
// never handed on.
import { isIP } from "node:net";
import type { Proxy } from "../model/proxy.js";
import type { SignalPodRef } from "../signals/service.js";
import { workloadAddressProblem } from "../security/workload-address.js";
import type { PodDirectory, PodLocation } from "./agent-signals.js";

const podIps = (p: Proxy): string[] => p.ips.filter((ip) => workloadAddressProblem(ip) === undefined);

export function proxyPodDirectory(proxies: () => Iterable<Proxy>): PodDirectory {
  return {
    locate(pod: SignalPodRef): PodLocation | undefined {
      for (const p of proxies()) {
        if (p.namespace !== pod.namespace || p.podName !== pod.name) continue;
        const node = p.metadata["NODE_NAME"];
        return { ip: podIps(p)[0] ?? "", serviceAccount: p.serviceAccount, ...(typeof node === "string" && node !== "" ? { node } : {}) };
      }
      return undefined;
    },
    podsOfIdentity(id) {
      const out: { ip: string }[] = [];
      for (const p of proxies()) {
        if (p.namespace === id.namespace && p.serviceAccount === id.serviceAccount) for (const ip of podIps(p)) out.push({ ip });
      }
      return out;
    },
  };
}

/**
 * The IP of a gRPC peer string (`1.2.3.4:5`, `[::1]:5`, `ipv4:1.2.3.4:5`), an IPv4-mapped IPv6
 * address as its IPv4 form (what a pod's IP is recorded as); undefined if it is not an IP.
 */
export function peerIp(peer: string): string | undefined {
  const bare = peer.replace(/^ipv[46]:/, "");
  const m = /^\[([^\]]+)\]:\d+$/.exec(bare) ?? /^([^:]+):\d+$/.exec(bare);
  const ip = m?.[1] ?? bare;
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1] ?? ip;
  return isIP(v4) === 0 ? undefined : v4;
}
