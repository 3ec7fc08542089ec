// IP addresses and CIDR ranges as istiod reads them (Go netip): a bare address is a /32 or /128.
import { isIPv4, isIPv6 } from "node:net";

export interface ParsedCidr {
  readonly addressPrefix: string;
  readonly prefixLen: number;
}

/** Parses `ip` or `ip/len`; returns an error message instead of throwing. */
export function parseCidr(value: string): ParsedCidr | { readonly error: string } {
  const slash = value.indexOf("/");
  const addr = slash < 0 ? value : value.slice(0, slash);
  const v4 = isIPv4(addr);
  // netip rejects zones in prefixes and IPv4 octets with leading zeros; node:net accepts neither either.
  if (!v4 && !(isIPv6(addr) && !addr.includes("%"))) {
    return { error: slash < 0 ? `bad IP address (${value})` : `bad CIDR range (${value}): invalid address` };
  }
  const max = v4 ? 32 : 128;
  if (slash < 0) return { addressPrefix: addr, prefixLen: max };
  const bits = value.slice(slash + 1);
  if (!/^(0|[1-9]\d*)$/.test(bits) || Number(bits) > max) {
    return { error: `bad CIDR range (${value}): bad prefix length "${bits}"` };
  }
  return { addressPrefix: addr, prefixLen: Number(bits) };
}

/** Ports are decimal strings in [0, 65535]. */
export function parsePort(value: string): number | undefined {
  if (!/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n <= 65535 ? n : undefined;
}
