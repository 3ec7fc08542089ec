// A minimal, strict DER reader and writer: just what PKCS#10 parsing and X.509 building need.
// Strict means definite, minimally encoded lengths and no trailing bytes, so that a CSR can only be
// read one way (what we verify is exactly what we parse).

export const enum Tag {
  Boolean = 0x01,
  Integer = 0x02,
  BitString = 0x03,
  OctetString = 0x04,
  Null = 0x05,
  Oid = 0x06,
  Utf8String = 0x0c,
  PrintableString = 0x13,
  UtcTime = 0x17,
  GeneralizedTime = 0x18,
  Sequence = 0x30,
  Set = 0x31,
}

/** One TLV inside a buffer: `start` is the tag byte, `value` the content, `end` one past it. */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly valueStart: number;
  readonly end: number;
}

export class DerError extends Error {}

export function readTlv(buf: Uint8Array, offset: number, limit: number = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated element at byte ${offset}`);
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at byte ${offset} is not supported`);
  let len = buf[offset + 1];
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError(`indefinite length at byte ${offset} is not DER`);
    if (n > 4) throw new DerError(`length of ${n} bytes at byte ${offset} is too large`);
    if (pos + n > limit) throw new DerError(`truncated length at byte ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i];
    if (buf[pos] === 0 || len < 0x80) throw new DerError(`non-minimal length at byte ${offset}`);
    pos += n;
  }
  const end = pos + len;
  if (end > limit) throw new DerError(`element at byte ${offset} runs past its container`);
  return { tag, start: offset, valueStart: pos, end };
}

/** Reads a TLV and checks its tag. */
export function expectTlv(buf: Uint8Array, offset: number, tag: number, what: string, limit?: number): Tlv {
  const t = readTlv(buf, offset, limit);
  if (t.tag !== tag) {
    throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
  }
  return t;
}

/** The TLVs directly inside a constructed element. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.valueStart;
  while (pos < parent.end) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

export function value(buf: Buffer, t: Tlv): Buffer {
  return buf.subarray(t.valueStart, t.end);
}

export function whole(buf: Buffer, t: Tlv): Buffer {
  return buf.subarray(t.start, t.end);
}

// ---- writing ----

export function headerLength(len: number): number {
  return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : 5;
}

/** Writes a tag and length at `pos`, returning the position of the content. */
export function writeHeader(out: Buffer, pos: number, tag: number, len: number): number {
  out[pos++] = tag;
  if (len < 0x80) {
    out[pos++] = len;
  } else if (len < 0x100) {
    out[pos++] = 0x81;
    out[pos++] = len;
  } else if (len < 0x10000) {
    out[pos++] = 0x82;
    out[pos++] = len >> 8;
    out[pos++] = len & 0xff;
  } else {
    out[pos++] = 0x83;
    out[pos++] = len >> 16;
    out[pos++] = (len >> 8) & 0xff;
    out[pos++] = len & 0xff;
  }
  return pos;
}

export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  let len = 0;
  for (const c of content) len += c.length;
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  let pos = writeHeader(out, 0, tag, len);
  for (const c of content) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

export const seq = (...content: Uint8Array[]): Buffer => tlv(Tag.Sequence, ...content);

export function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const bytes: number[] = [parts[0] * 40 + parts[1]];
  for (const p of parts.slice(2)) {
    const groups: number[] = [];
    let v = p;
    do {
      groups.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < groups.length - 1; i++) groups[i] |= 0x80;
    bytes.push(...groups);
  }
  return tlv(Tag.Oid, Uint8Array.from(bytes));
}

/** A non-negative INTEGER from big-endian magnitude bytes. */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return m[0] & 0x80 ? tlv(Tag.Integer, Uint8Array.of(0), m) : tlv(Tag.Integer, m);
}

export function smallInteger(n: number): Buffer {
  const bytes: number[] = [];
  do {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  } while (n > 0);
  return unsignedInteger(Uint8Array.from(bytes));
}

export function bitString(content: Uint8Array, unusedBits = 0): Buffer {
  return tlv(Tag.BitString, Uint8Array.of(unusedBits), content);
}

export function contextTag(n: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

/** UTCTime through 2049, GeneralizedTime after, as RFC 5280 4.1.2.5 requires. */
export function time(date: Date): Buffer {
  const y = date.getUTCFullYear();
  const p2 = (n: number): string => (n < 10 ? "0" : "") + n;
  const rest =
    p2(date.getUTCMonth() + 1) + p2(date.getUTCDate()) + p2(date.getUTCHours()) +
    p2(date.getUTCMinutes()) + p2(date.getUTCSeconds()) + "Z";
  if (y >= 1950 && y < 2050) return tlv(Tag.UtcTime, Buffer.from(p2(y % 100) + rest, "latin1"));
  return tlv(Tag.GeneralizedTime, Buffer.from(String(y).padStart(4, "0") + rest, "latin1"));
}
