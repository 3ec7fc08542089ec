// Hand assembly of DiscoveryResponse / DeltaDiscoveryResponse bytes around resource bytes that were
// encoded once. Re-encoding every response with toBinary costs ~70 µs per 22 KB listener per
// stream (issue 2), so at 10,000 streams the wrapping alone would eat most of a core; here the
// per-stream work is copying cached bytes and writing a few varints.
//
// Field numbers and order follow envoy/service/discovery/v3/discovery.proto and google/protobuf/any.proto;
// fields are written in field-number order with proto3 implicit presence (empty strings omitted),
// exactly as @bufbuild/protobuf's toBinary writes them (test/xds/wire.test.ts checks this).
import type { EncodedResource } from "./types.js";

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/**
 * Length-delimited fields (wire type 2, field numbers below 16) collected, then written into one
 * buffer of the exact size: one allocation per message.
 */
class MessageWriter {
  private readonly tags: number[] = [];
  private readonly values: (Uint8Array | string)[] = [];
  private readonly lengths: number[] = [];
  private size = 0;

  private add(field: number, value: Uint8Array | string, length: number): void {
    this.tags.push((field << 3) | 2);
    this.values.push(value);
    this.lengths.push(length);
    this.size += 1 + varintSize(length) + length;
  }

  bytes(field: number, value: Uint8Array): void {
    this.add(field, value, value.length);
  }

  /** A proto3 string field; omitted when empty, as toBinary does. */
  string(field: number, value: string): void {
    if (value !== "") this.add(field, value, Buffer.byteLength(value));
  }

  /** An element of a repeated string field (kept even when empty). */
  repeatedString(field: number, value: string): void {
    this.add(field, value, Buffer.byteLength(value));
  }

  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.size);
    let o = 0;
    for (let i = 0; i < this.tags.length; i++) {
      out[o++] = this.tags[i]!;
      let n = this.lengths[i]!;
      while (n >= 0x80) {
        out[o++] = (n % 128) | 0x80;
        n = Math.floor(n / 128);
      }
      out[o++] = n;
      const v = this.values[i]!;
      if (typeof v === "string") o += out.write(v, o, "utf8");
      else {
        out.set(v, o);
        o += v.length;
      }
    }
    return out;
  }
}

// Per EncodedResource, the wrappers are built once and shared by every stream sending that version.
const anyCache = new WeakMap<EncodedResource, Buffer>();
const deltaResourceCache = new WeakMap<EncodedResource, Buffer>();

/** `google.protobuf.Any{type_url=1, value=2}` holding the resource. */
export function encodedAny(r: EncodedResource): Buffer {
  let b = anyCache.get(r);
  if (b === undefined) {
    const w = new MessageWriter();
    w.string(1, r.typeUrl);
    if (r.bytes.length > 0) w.bytes(2, r.bytes);
    b = w.finish();
    anyCache.set(r, b);
  }
  return b;
}

/** `envoy.service.discovery.v3.Resource{version=1, resource=2, name=3}`. */
export function encodedDeltaResource(r: EncodedResource): Buffer {
  let b = deltaResourceCache.get(r);
  if (b === undefined) {
    const w = new MessageWriter();
    w.string(1, r.version);
    w.bytes(2, encodedAny(r));
    w.string(3, r.name);
    b = w.finish();
    deltaResourceCache.set(r, b);
  }
  return b;
}

export interface SotwResponseParts {
  readonly versionInfo: string;
  readonly resources: readonly EncodedResource[];
  readonly typeUrl: string;
  readonly nonce: string;
}

/** DiscoveryResponse{version_info=1, resources=2, type_url=4, nonce=5}. */
export function assembleSotwResponse(p: SotwResponseParts): Buffer {
  const w = new MessageWriter();
  w.string(1, p.versionInfo);
  for (const r of p.resources) w.bytes(2, encodedAny(r));
  w.string(4, p.typeUrl);
  w.string(5, p.nonce);
  return w.finish();
}

export interface DeltaResponseParts {
  readonly systemVersionInfo: string;
  readonly resources: readonly EncodedResource[];
  readonly typeUrl: string;
  readonly removedResources: readonly string[];
  readonly nonce: string;
}

/** DeltaDiscoveryResponse{system_version_info=1, resources=2, type_url=4, nonce=5, removed_resources=6}. */
export function assembleDeltaResponse(p: DeltaResponseParts): Buffer {
  const w = new MessageWriter();
  w.string(1, p.systemVersionInfo);
  for (const r of p.resources) w.bytes(2, encodedDeltaResource(r));
  w.string(4, p.typeUrl);
  w.string(5, p.nonce);
  // Repeated strings keep empty elements (only singular proto3 strings are omitted).
  for (const name of p.removedResources) w.repeatedString(6, name);
  return w.finish();
}
