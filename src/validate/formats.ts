// PGV's well-known string formats and the RE2 -> JavaScript regex translation for `pattern`.
// Envoy runs PGV's C++ code, which matches with RE2; the patterns Envoy's protos use are plain
// enough for JavaScript's engine once RE2-only syntax is rewritten.
import { isIP, isIPv4, isIPv6 } from "node:net";

/** PGV's hostname check (RFC 1034 labels, lower-cased, one trailing dot allowed). */
export function isHostname(host: string): boolean {
  if (host.length > 253) return false;
  const s = (host.endsWith(".") ? host.slice(0, -1) : host).toLowerCase();
  for (const part of s.split(".")) {
    if (part.length === 0 || part.length > 63) return false;
    if (part.startsWith("-") || part.endsWith("-")) return false;
    if (!/^[a-z0-9-]+$/.test(part)) return false;
  }
  return true;
}

// Go's net.ParseIP and RE2 reject zone suffixes (fe80::1%eth0), Node accepts them.
export const isIpAddress = (s: string): boolean => !s.includes("%") && isIP(s) !== 0;
export const isIpv4Address = (s: string): boolean => isIPv4(s);
export const isIpv6Address = (s: string): boolean => !s.includes("%") && isIPv6(s);

export function isAbsoluteUri(s: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(s)) return false;
  return URL.canParse(s);
}

export function isUriReference(s: string): boolean {
  if (/[\s<>"{}|\\^`]/.test(s)) return false;
  return URL.canParse(s, "http://uri-reference.invalid/");
}

const uuid = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const isUuid = (s: string): boolean => uuid.test(s);

export function isEmail(s: string): boolean {
  const addr = /<(.*)>$/.exec(s)?.[1] ?? s;
  if (addr.length > 254) return false;
  const at = addr.lastIndexOf("@");
  if (at <= 0 || at > 64) return false;
  return /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$/.test(addr.slice(0, at)) && isHostname(addr.slice(at + 1));
}

// PGV's regexes for KnownRegex (the same strings in its Go, C++ and Java templates). `+-.` is a
// range in the name class, so PGV lets ',' through; kept as PGV has it.
export const httpHeaderName = /^:?[0-9a-zA-Z!#$%&'*+-.^_|~\x60]+$/;
export const httpHeaderValue = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
/** Used for both names and values when `strict: false`. */
export const httpHeaderLoose = /^[^\u0000\u000A\u000D]*$/;

const posixClasses: Readonly<Record<string, string>> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

/**
 * Translates an RE2 pattern to a RegExp with the same (unanchored) matching. Throws for RE2
 * syntax that has no JavaScript equivalent here, so an unchecked rule never passes silently.
 */
export function re2ToRegExp(pattern: string): RegExp {
  let flags = "";
  let src = pattern;
  const leading = /^\(\?([imsU]+)\)/.exec(src);
  if (leading) {
    if (leading[1]!.includes("U")) throw new Error(`RE2 flag U (ungreedy) is not supported: ${pattern}`);
    flags += leading[1]!.replace(/[^ims]/g, "");
    src = src.slice(leading[0].length);
  }
  src = src
    .replace(/\\Q(.*?)(\\E|$)/g, (_m, lit: string) => lit.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&"))
    .replace(/\(\?P</g, "(?<")
    .replace(/\\A/g, "^")
    .replace(/\\z/g, "$")
    .replace(/\[:(\^?)([a-z]+):\]/g, (m, neg: string, name: string) => {
      const cls = posixClasses[name];
      if (cls === undefined || neg) throw new Error(`RE2 class ${m} is not supported: ${pattern}`);
      return cls;
    })
    .replace(/\\p([A-Z])/g, "\\p{$1}")
    .replace(/\\P([A-Z])/g, "\\P{$1}");
  if (/\(\?[imsU-]/.test(src)) throw new Error(`inline RE2 flags inside the pattern are not supported: ${pattern}`);
  try {
    return new RegExp(src, flags + "u");
  } catch {
    // RE2 accepts escapes of any punctuation, which unicode-mode RegExp refuses.
    return new RegExp(src, flags);
  }
}
