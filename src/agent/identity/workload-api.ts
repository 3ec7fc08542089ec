// The SPIFFE Workload API (SpiffeWorkloadAPI: FetchX509SVID, FetchX509Bundles) on the node identity
// socket, for go-spiffe, SPIRE-aware proxies and any SPIFFE library. As the spec requires, a call
// without the `workload.spiffe.io: true` metadata is refused (it keeps a browser or an SSRF from
// reaching the API), and the caller's SVID is its pod's, attested from the kernel. The JWT and WIT
// methods are left unimplemented (grpc-js answers UNIMPLEMENTED): meshward issues X.509 only.
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  SpiffeWorkloadAPI, X509BundlesResponseSchema, X509SVIDResponseSchema,
  type X509BundlesRequest, type X509BundlesResponse, type X509SVIDRequest, type X509SVIDResponse,
} from "../../gen/workload_pb.js";
import { grpcServiceDefinition } from "../../signals/grpc-definition.js";
import { endCall, openPodStream, type PodStreamDeps } from "./pod-stream.js";
import type { PodSvid } from "./pod-certificates.js";

export const WORKLOAD_API_HEADER = "workload.spiffe.io";

export function x509SvidResponse(svid: PodSvid): X509SVIDResponse {
  return create(X509SVIDResponseSchema, {
    svids: [{ spiffeId: svid.spiffeId, x509Svid: svid.chainDer, x509SvidKey: svid.keyDer, bundle: svid.bundleDer }],
  });
}

function trustDomainId(spiffeId: string): string {
  return spiffeId.slice(0, spiffeId.indexOf("/", "spiffe://".length));
}

function hasSecurityHeader(call: { metadata: grpc.Metadata }): boolean {
  return call.metadata.get(WORKLOAD_API_HEADER).some((v) => v.toString() === "true");
}

export function registerWorkloadApi(deps: PodStreamDeps): void {
  const refuseWithoutHeader = (call: grpc.ServerWritableStream<unknown, unknown>): boolean => {
    if (hasSecurityHeader(call)) return false;
    // SPIRE's wording, which SPIFFE clients recognise.
    endCall(call, grpc.status.INVALID_ARGUMENT, "security header missing from request");
    return true;
  };
  const fetchX509SVID = (call: grpc.ServerWritableStream<X509SVIDRequest, X509SVIDResponse>): void => {
    if (refuseWithoutHeader(call)) return;
    void openPodStream(deps, call, "FetchX509SVID", (svid) => call.write(x509SvidResponse(svid)));
  };
  const fetchX509Bundles = (call: grpc.ServerWritableStream<X509BundlesRequest, X509BundlesResponse>): void => {
    if (refuseWithoutHeader(call)) return;
    let sent: Buffer | undefined;
    void openPodStream(deps, call, "FetchX509Bundles", (svid) => {
      if (sent !== undefined && sent.equals(svid.bundleDer)) return; // a rotation of the SVID alone
      sent = svid.bundleDer;
      call.write(create(X509BundlesResponseSchema, { bundles: { [trustDomainId(svid.spiffeId)]: svid.bundleDer } }));
    });
  };
  deps.socket.grpc.addService(grpcServiceDefinition(SpiffeWorkloadAPI), {
    FetchX509SVID: fetchX509SVID,
    FetchX509Bundles: fetchX509Bundles,
  } as unknown as grpc.UntypedServiceImplementation);
}
