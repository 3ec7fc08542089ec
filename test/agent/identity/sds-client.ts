// A raw SDS client for the node identity tests, run inside a pod's cgroup like Envoy in the pod.
// It opens StreamSecrets or DeltaSecrets on the socket, sends every JSON line of its stdin as a
// request, and prints every response (names, versions, nonce, what each secret holds) or the final
// status as one JSON line, so the test drives Envoy's SDS contract step by step.
//   node sds-client.js <socket> stream|delta   (stdin: {"resourceNames":[...],"responseNonce":"1",...} per line)
import * as grpc from "@grpc/grpc-js";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { createInterface } from "node:readline";
import {
  DeltaDiscoveryRequestSchema, DiscoveryRequestSchema, type DeltaDiscoveryResponse, type DiscoveryResponse,
} from "../../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { SecretDiscoveryService } from "../../../src/gen/envoy/service/secret/v3/sds_pb.js";
import { SecretSchema, type Secret } from "../../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { grpcServiceDefinition } from "../../../src/signals/grpc-definition.js";
import { TypeUrl } from "../../../src/xds/types.js";

const [socket, mode] = process.argv.slice(2);
const def = grpcServiceDefinition(SecretDiscoveryService);
const client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
const print = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

function describe(secret: Secret | undefined): Record<string, unknown> {
  if (secret === undefined) return { undecodable: true };
  const t = secret.type;
  if (t.case === "tlsCertificate") {
    const chain = Buffer.from(t.value.certificateChain?.specifier.case === "inlineBytes" ? t.value.certificateChain.specifier.value : new Uint8Array());
    const key = Buffer.from(t.value.privateKey?.specifier.case === "inlineBytes" ? t.value.privateKey.specifier.value : new Uint8Array());
    const leaf = new X509Certificate(chain);
    return { name: secret.name, kind: "tlsCertificate", san: leaf.subjectAltName, serial: leaf.serialNumber, keyMatches: leaf.checkPrivateKey(createPrivateKey(key)) };
  }
  if (t.case === "validationContext") {
    const ca = t.value.trustedCa?.specifier.case === "inlineBytes" ? Buffer.from(t.value.trustedCa.specifier.value) : Buffer.alloc(0);
    return { name: secret.name, kind: "validationContext", rootIsCa: new X509Certificate(ca).ca };
  }
  return { name: secret.name, kind: t.case ?? "none" };
}

const method = mode === "delta" ? def.DeltaSecrets : def.StreamSecrets;
const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, new grpc.Metadata(), {});
call.on("data", (r: DiscoveryResponse | DeltaDiscoveryResponse) => {
  if ("versionInfo" in r) {
    print({ typeUrl: r.typeUrl, versionInfo: r.versionInfo, nonce: r.nonce, secrets: r.resources.map((a) => describe(anyUnpack(a, SecretSchema))) });
  } else {
    print({
      typeUrl: r.typeUrl, nonce: r.nonce, removed: r.removedResources,
      resources: r.resources.map((x) => ({ name: x.name, version: x.version, ...describe(x.resource ? anyUnpack(x.resource, SecretSchema) : undefined) })),
    });
  }
});
call.on("error", (e: grpc.ServiceError) => {
  print({ error: grpc.status[e.code], details: e.details });
  process.exit(0);
});
createInterface({ input: process.stdin }).on("line", (line) => {
  const json = { typeUrl: TypeUrl.Secret, ...(JSON.parse(line) as Record<string, JsonValue>) };
  call.write(mode === "delta" ? fromJson(DeltaDiscoveryRequestSchema, json) : fromJson(DiscoveryRequestSchema, json));
});

