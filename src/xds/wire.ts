// Hand assembly of DiscoveryResponse / DeltaDiscoveryResponse bytes around resource bytes that were
// encoded once. Re-encoding every response with toBinary costs ~70 µs per 22 KB listener per
// stream (issue 2), so at 10,000 streams the wrapping alone would eat most of a core; here the
// per-stream work is copying cached bytes and writing a few varints.
//
// Field numbers and order follow envoy/service/discovery/v3/discovery.proto and google/protobuf/any.proto;
// fields are written in field-number order with proto3 implicit presence (empty strings omitted),
// exactly as @bufbuild/protobuf's toBinary writes them (test/xds/wire.test.ts checks this).
import type { EncodedResource } from "./types.js";

const utf8 = new TextEncoder();

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A growable list of byte chunks joined once at the end. */
class ChunkWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  private raw(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  private header(tag: number, length: number): void {
    const out = new Uint8Array(1 + varintSize(length));
    out[0] = tag;
    let n = length;
    let i = 1;
    while (n >= 0x80) {
      out[i++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    out[i] = n;
    this.raw(out);
  }

  /** A length-delimited field (wire type 2) with a field number below 16. */
  bytes(field: number, value: Uint8Array): void {
    this.header((field << 3) | 2, value.length);
    this.raw(value);
  }

  /** A proto3 string field; omitted when empty, as toBinary does. */
  string(field: number, value: string): void {
    if (value !== "") this.bytes(field, utf8.encode(value));
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

// Per EncodedResource, the wrappers are built once and shared by every stream sending that version.
const anyCache = new WeakMap<EncodedResource, Buffer>();
const deltaResourceCache = new WeakMap<EncodedResource, Buffer>();

/** `google.protobuf.Any{type_url=1, value=2}` holding the resource. */
export function encodedAny(r: EncodedResource): Buffer {
  let b = anyCache.get(r);
  if (b === undefined) {
    const w = new ChunkWriter();
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
    const w = new ChunkWriter();
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
  const w = new ChunkWriter();
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
  const w = new ChunkWriter();
  w.string(1, p.systemVersionInfo);
  for (const r of p.resources) w.bytes(2, encodedDeltaResource(r));
  w.string(4, p.typeUrl);
  w.string(5, p.nonce);
  // Repeated strings keep empty elements (only singular proto3 strings are omitted).
  for (const name of p.removedResources) w.bytes(6, utf8.encode(name));
  return w.finish();
}
