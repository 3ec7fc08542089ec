// What a workload may say its own address is. A proxy announces its pod's IPs itself (node id,
// INSTANCE_IPS) and enforcement keys on them, so an address that names more than one pod (a CIDR,
// the unspecified address, multicast or broadcast) would turn a quarantine of that workload into a
// DENY for every caller, and a malformed one would void the enforcement objects it lands in. Only a
// single unicast IP is a pod address; istiod likewise refuses a node whose IPs do not parse.
import { BlockList, isIP } from "node:net";

/** Ranges that never name one pod: "this network", multicast, broadcast, and their IPv6 peers. */
const NOT_A_POD = new BlockList();
NOT_A_POD.addSubnet("0.0.0.0", 8, "ipv4");
NOT_A_POD.addSubnet("224.0.0.0", 4, "ipv4");
NOT_A_POD.addAddress("255.255.255.255", "ipv4");
NOT_A_POD.addAddress("::", "ipv6");
NOT_A_POD.addSubnet("ff00::", 8, "ipv6");

/** Why `address` is not a single pod IP, or undefined when it is one. */
export function workloadAddressProblem(address: string): string | undefined {
  if (address.includes("/")) return `"${address}" is a CIDR range, not a single pod IP`;
  if (address.includes("%")) return `"${address}" carries an IPv6 zone, not a pod IP`;
  const family = isIP(address);
  if (family === 0) return `"${address}" is not an IP address`;
  if (NOT_A_POD.check(address, family === 4 ? "ipv4" : "ipv6")) {
    return `"${address}" is an unspecified, multicast or broadcast address, not a pod IP`;
  }
  return undefined;
}

export interface RejectedAddress {
  readonly address: string;
  readonly reason: string;
}

/** Splits addresses into the single pod IPs (kept, in order, without repeats) and the rest with why. */
export function partitionWorkloadAddresses(addresses: Iterable<string>): { readonly ips: string[]; readonly rejected: RejectedAddress[] } {
  const ips: string[] = [];
  const rejected: RejectedAddress[] = [];
  for (const address of addresses) {
    const reason = workloadAddressProblem(address);
    if (reason !== undefined) rejected.push({ address, reason });
    else if (!ips.includes(address)) ips.push(address);
  }
  return { ips, rejected };
}
