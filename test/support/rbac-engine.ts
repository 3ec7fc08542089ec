// Envoy HTTP RBAC filters judged by a real consumer: @grpc/grpc-js-xds decodes the filters' bytes
// with its own proto loader and evaluates them with its own RBAC engine. For tests that want to
// know what a set of authorization filters admits, not only what they look like.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { addCommonProtos, loadProtosWithOptionsSync } from "@grpc/proto-loader/build/src/util.js";
import { parseConfig, type RbacPolicyGroup, type UnifiedInfo } from "@grpc/grpc-js-xds/build/src/rbac.js";
import type { RBAC__Output } from "@grpc/grpc-js-xds/build/src/generated/envoy/config/rbac/v3/RBAC.js";
import { HttpFilterSchema, type HttpFilter } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";

const deps = path.join(path.dirname(createRequire(import.meta.url).resolve("@grpc/grpc-js-xds/package.json")), "deps");
addCommonProtos();
const root = loadProtosWithOptionsSync(["envoy/extensions/filters/http/rbac/v3/rbac.proto", "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto"], {
  keepCase: true,
  includeDirs: ["xds", "envoy-api", "protoc-gen-validate", "googleapis"].map((d) => path.join(deps, d)),
});
const RbacType = root.lookupType("envoy.extensions.filters.http.rbac.v3.RBAC");
const HttpFilterType = root.lookupType("envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter");

const RbacTypeUrl = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";

/** The RBAC engines of the RBAC filters among `filters` (every other filter is left aside), decoded from their bytes. */
export function rbacEngines(filters: readonly HttpFilter[]): RbacPolicyGroup[] {
  return filters
    .map((f) => HttpFilterType.toObject(HttpFilterType.decode(toBinary(HttpFilterSchema, f))) as { typed_config?: { type_url: string; value: Uint8Array } })
    .filter((filter) => filter.typed_config?.type_url === RbacTypeUrl)
    .map((filter) => {
      assert.ok(filter.typed_config !== undefined);
      const decoded = RbacType.toObject(RbacType.decode(filter.typed_config.value), { longs: String, enums: String, defaults: true, oneofs: true }) as { rules: RBAC__Output };
      return parseConfig(decoded.rules);
    });
}

export interface HttpCall {
  /** The caller's SPIFFE id from its mTLS certificate; absent: plaintext. */
  readonly spiffe?: string;
  readonly authority: string;
  readonly path?: string;
  readonly method?: string;
  readonly sourceIp?: string;
}

function info(c: HttpCall): UnifiedInfo {
  const headers = new Metadata();
  headers.set(":method", c.method ?? "GET");
  headers.set(":path", c.path ?? "/");
  headers.set(":authority", c.authority);
  return {
    headers,
    urlPath: c.path ?? "/",
    destinationIp: "10.0.0.1",
    destinationPort: 443,
    sourceIp: c.sourceIp ?? "10.0.0.99",
    tls: c.spiffe !== undefined,
    peerCertificate: c.spiffe !== undefined ? { subject: { CN: "" }, subjectaltname: `URI:${c.spiffe}` } : null,
  } as UnifiedInfo;
}

/** A chain of RBAC filters admits a call only if every one accepts it. */
export function admits(engines: readonly RbacPolicyGroup[], c: HttpCall): boolean {
  return engines.every((g) => g.apply(info(c)));
}
