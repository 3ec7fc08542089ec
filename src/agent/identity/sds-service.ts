// Envoy's SDS (envoy.service.secret.v3.SecretDiscoveryService) on the node identity socket, as
// istio-agent serves it to its Envoy over a UDS: secrets `default` (the pod's certificate chain and
// key) and `ROOTCA` (the trust bundle), StreamSecrets (state of the world), DeltaSecrets and
// FetchSecrets. An ACK (the last nonce, no error_detail) is answered with nothing, a NACK is logged
// and nothing is re-sent until the secret changes, a stale nonce is ignored; a rotation is pushed
// down the open stream with a new version. Unknown secret names are not served (istio-agent would
// read them as file paths; meshward serves only what it issued).
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { anyPack, type Any } from "@bufbuild/protobuf/wkt";
import { createHash } from "node:crypto";
import {
  DeltaDiscoveryResponseSchema, DiscoveryResponseSchema,
  type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from "../../gen/envoy/service/discovery/v3/discovery_pb.js";
import { SecretDiscoveryService } from "../../gen/envoy/service/secret/v3/sds_pb.js";
import { SecretSchema } from "../../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { DEFAULT_SECRET, ROOT_SECRET, rootCaSecret, tlsCertificateSecret } from "../../ca/sds.js";
import { grpcServiceDefinition } from "../../signals/grpc-definition.js";
import { TypeUrl } from "../../xds/types.js";
import { endCall, openPodStream, type PodStream, type PodStreamDeps } from "./pod-stream.js";
import type { PodSvid } from "./pod-certificates.js";

const SERVED = new Set([DEFAULT_SECRET, ROOT_SECRET]);
const MAX_QUEUED_REQUESTS = 16;

interface VersionedSecret {
  readonly name: string;
  readonly version: string;
  readonly resource: Any;
}

/** The secret `name` of a pod's certificate, with a version that changes exactly when its content does. */
export function podSecret(svid: PodSvid, name: string): VersionedSecret | undefined {
  if (name === DEFAULT_SECRET) {
    return { name, version: `${svid.serial}`, resource: anyPack(SecretSchema, tlsCertificateSecret(DEFAULT_SECRET, svid.chainPem, svid.keyPem)) };
  }
  if (name === ROOT_SECRET) {
    const version = createHash("sha256").update(svid.bundleDer).digest("hex").slice(0, 16);
    return { name, version, resource: anyPack(SecretSchema, rootCaSecret(svid.bundlePem)) };
  }
  return undefined;
}

function secretsFor(svid: PodSvid, names: Iterable<string>): VersionedSecret[] {
  return [...names].map((n) => podSecret(svid, n)).filter((s): s is VersionedSecret => s !== undefined);
}

function wrongType(typeUrl: string): string | undefined {
  return typeUrl !== "" && typeUrl !== TypeUrl.Secret ? `type_url ${typeUrl} is not served here (only ${TypeUrl.Secret})` : undefined;
}

export function registerSecretDiscovery(deps: PodStreamDeps): void {
  const log = deps.log ?? ((): void => undefined);

  /**
   * Opens the stream on the first request (of the Secret type only) and runs `handle` for each
   * later one; requests that arrive while it opens wait.
   */
  const sequenced = <Req extends { typeUrl: string }>(call: grpc.ServerDuplexStream<Req, unknown>, open: (first: Req) => Promise<PodStream | undefined>, handle: (s: PodStream, r: Req) => void): void => {
    let stream: PodStream | undefined;
    let opening = false;
    const queued: Req[] = [];
    call.on("data", (req: Req) => {
      if (stream !== undefined) return handle(stream, req);
      if (opening) {
        // A client may not pile up requests while its first certificate is being issued.
        if (queued.length >= MAX_QUEUED_REQUESTS) return endCall(call, grpc.status.RESOURCE_EXHAUSTED, `more than ${MAX_QUEUED_REQUESTS} requests before the first response`);
        return void queued.push(req);
      }
      opening = true;
      const bad = wrongType(req.typeUrl);
      if (bad !== undefined) return endCall(call, grpc.status.INVALID_ARGUMENT, bad);
      void open(req).then((s) => {
        stream = s;
        if (s !== undefined) for (const r of queued.splice(0)) handle(s, r);
      });
    });
    call.on("end", () => call.end());
  };

  const streamSecrets = (call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>): void => {
    let names = new Set<string>();
    let nonce = 0;
    let lastNonce = "";
    let nackedVersion: string | undefined;
    const push = (svid: PodSvid): void => {
      const secrets = secretsFor(svid, names);
      if (secrets.length === 0) return;
      const version = secrets.map((s) => s.version).join(".");
      if (version === nackedVersion) return;
      lastNonce = `${++nonce}`;
      call.write(create(DiscoveryResponseSchema, { versionInfo: version, resources: secrets.map((s) => s.resource), typeUrl: TypeUrl.Secret, nonce: lastNonce }));
    };
    const request = (s: PodStream | undefined, req: DiscoveryRequest): void => {
      const bad = wrongType(req.typeUrl);
      if (bad !== undefined) return s?.fail(grpc.status.INVALID_ARGUMENT, bad);
      if (req.responseNonce !== "" && req.responseNonce !== lastNonce) return; // stale: a newer response is on its way
      if (req.errorDetail !== undefined && req.responseNonce !== "") {
        nackedVersion = s ? secretsFor(s.current(), names).map((x) => x.version).join(".") : undefined;
        log(`sds: ${call.getPeer()}: NACK of ${[...names].join(",")}: ${req.errorDetail.message}`);
        return;
      }
      const wanted = new Set(req.resourceNames);
      const unknown = [...wanted].filter((n) => !SERVED.has(n));
      if (unknown.length > 0) log(`sds: ${call.getPeer()}: secret(s) ${unknown.join(", ")} are not served (only ${[...SERVED].join(", ")})`);
      const same = wanted.size === names.size && [...wanted].every((n) => names.has(n));
      names = wanted;
      if (req.responseNonce !== "" && same) return; // ACK
      if (s !== undefined) push(s.current());
    };
    sequenced(
      call,
      (first) => {
        names = new Set(first.resourceNames);
        return openPodStream(deps, call, "StreamSecrets", push);
      },
      request,
    );
  };

  const deltaSecrets = (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>): void => {
    const subscribed = new Set<string>();
    /** Versions the client has, by name. */
    const has = new Map<string, string>();
    let nonce = 0;
    const push = (svid: PodSvid): void => {
      const changed = secretsFor(svid, subscribed).filter((s) => has.get(s.name) !== s.version);
      if (changed.length === 0) return;
      for (const s of changed) has.set(s.name, s.version);
      call.write(create(DeltaDiscoveryResponseSchema, {
        systemVersionInfo: `${svid.serial}`,
        resources: changed.map((s) => ({ name: s.name, version: s.version, resource: s.resource })),
        typeUrl: TypeUrl.Secret,
        nonce: `${++nonce}`,
      }));
    };
    const apply = (req: DeltaDiscoveryRequest): void => {
      for (const n of req.resourceNamesSubscribe) if (SERVED.has(n)) subscribed.add(n);
      for (const n of req.resourceNamesUnsubscribe) {
        subscribed.delete(n);
        has.delete(n);
      }
    };
    sequenced(
      call,
      (first) => {
        for (const [n, v] of Object.entries(first.initialResourceVersions)) has.set(n, v);
        apply(first);
        return openPodStream(deps, call, "DeltaSecrets", push);
      },
      (s, req) => {
        if (req.errorDetail !== undefined) return log(`sds: ${call.getPeer()}: delta NACK: ${req.errorDetail.message}`);
        apply(req);
        push(s.current());
      },
    );
  };

  const fetchSecrets = (call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, cb: grpc.sendUnaryData<DiscoveryResponse>): void => {
    const attested = deps.socket.attestCall(call);
    if (!attested.ok) return cb({ code: grpc.status.PERMISSION_DENIED, details: `no identity issued: ${attested.reason}` });
    deps.certificates.get(attested.attestation.pod).then(
      (svid) => {
        const secrets = secretsFor(svid, call.request.resourceNames);
        cb(null, create(DiscoveryResponseSchema, { versionInfo: secrets.map((s) => s.version).join("."), resources: secrets.map((s) => s.resource), typeUrl: TypeUrl.Secret }));
      },
      (e: Error) => cb({ code: grpc.status.PERMISSION_DENIED, details: e.message }),
    );
  };

  deps.socket.grpc.addService(grpcServiceDefinition(SecretDiscoveryService), {
    StreamSecrets: streamSecrets,
    DeltaSecrets: deltaSecrets,
    FetchSecrets: fetchSecrets,
  } as unknown as grpc.UntypedServiceImplementation);
}
