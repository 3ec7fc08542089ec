// `meshward workload-certs --from-node-agent`: a proxyless gRPC pod's certificates from the node
// agent's identity socket instead of the CA. The pod holds no token: the agent identifies it from
// the kernel. It watches the SPIFFE Workload API's FetchX509SVID stream and rewrites
// cert-chain.pem, key.pem (0600) and root-cert.pem at every rotation the agent pushes; a broken
// stream is re-opened with backoff while the files keep serving until they expire.
import * as grpc from "@grpc/grpc-js";
import { X509Certificate } from "node:crypto";
import { SpiffeWorkloadAPI, type X509SVIDResponse } from "../../gen/workload_pb.js";
import { CERTIFICATE, pemEncode } from "../../ca/pem.js";
import { writeWorkloadFiles, type RenewedCertificate } from "../../ca/workload-agent.js";
import { parseSpiffeId } from "../../security/certificate-authenticator.js";
import { grpcServiceDefinition } from "../../signals/grpc-definition.js";
import { WORKLOAD_API_HEADER } from "./workload-api.js";

export interface NodeAgentCertificatesOptions {
  readonly socketPath: string;
  readonly outDir: string;
  /** Roots to trust besides the agent's bundle. */
  readonly extraRoots?: string;
  readonly onRenewed?: (r: RenewedCertificate) => void | Promise<void>;
  readonly onError?: (e: Error) => void;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/** Splits concatenated DER certificates into PEM. */
function derChainToPem(der: Uint8Array): string {
  let pem = "";
  let rest = Buffer.from(der);
  while (rest.length > 0) {
    const cert = new X509Certificate(rest);
    const len = cert.raw.length;
    pem += pemEncode(CERTIFICATE, rest.subarray(0, len));
    rest = rest.subarray(len);
  }
  return pem;
}

export class NodeAgentCertificates {
  private readonly client: grpc.Client;
  private call: grpc.ClientReadableStream<X509SVIDResponse> | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: NodeAgentCertificatesOptions) {
    this.client = new grpc.Client(`unix:${opts.socketPath}`, grpc.credentials.createInsecure());
  }

  /** Writes the first SVID and keeps following rotations; rejects if the first one cannot be had. */
  start(): Promise<RenewedCertificate> {
    return new Promise((resolve, reject) => {
      let first = true;
      this.open(
        (r) => {
          if (first) resolve(r);
          first = false;
        },
        (e) => {
          if (first) {
            first = false;
            this.stop();
            return reject(e);
          }
          this.opts.onError?.(e);
        },
      );
    });
  }

  /** Writes one SVID and stops. */
  async once(): Promise<RenewedCertificate> {
    try {
      return await this.start();
    } finally {
      this.stop();
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.call?.cancel();
    this.client.close();
  }

  private open(onSvid: (r: RenewedCertificate) => void, onError: (e: Error) => void, backoffMs = RETRY_MIN_MS): void {
    if (this.stopped) return;
    const def = grpcServiceDefinition(SpiffeWorkloadAPI).FetchX509SVID;
    const md = new grpc.Metadata();
    md.set(WORKLOAD_API_HEADER, "true");
    const call = this.client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, {}, md, {}) as grpc.ClientReadableStream<X509SVIDResponse>;
    this.call = call;
    let writing = Promise.resolve();
    call.on("data", (r: X509SVIDResponse) => {
      backoffMs = RETRY_MIN_MS;
      writing = writing.then(() => this.write(r)).then(onSvid, (e: Error) => onError(e));
    });
    call.on("error", (e: grpc.ServiceError) => {
      if (this.stopped || e.code === grpc.status.CANCELLED) return;
      onError(new Error(`node agent ${this.opts.socketPath}: ${grpc.status[e.code]}: ${e.details}`));
      const next = Math.min(RETRY_MAX_MS, backoffMs * 2);
      this.timer = setTimeout(() => this.open(onSvid, onError, next), backoffMs);
    });
  }

  private async write(r: X509SVIDResponse): Promise<RenewedCertificate> {
    const svid = r.svids[0];
    if (svid === undefined) throw new Error("the node agent sent no SVID");
    const identity = parseSpiffeId(svid.spiffeId);
    if (identity === undefined) throw new Error(`the node agent sent SPIFFE ID ${svid.spiffeId}, not spiffe://<td>/ns/<ns>/sa/<sa>`);
    const chainPem = derChainToPem(svid.x509Svid);
    const leaf = new X509Certificate(chainPem);
    const keyPem = pemEncode("PRIVATE KEY", svid.x509SvidKey);
    await writeWorkloadFiles(this.opts.outDir, { chainPem, keyPem, rootsPem: derChainToPem(svid.bundle) + (this.opts.extraRoots ?? "") });
    const now = Date.now();
    const notAfter = new Date(leaf.validTo);
    const renewed: RenewedCertificate = { identity, notAfter, renewAt: new Date(now + (notAfter.getTime() - now) / 2) };
    await this.opts.onRenewed?.(renewed);
    return renewed;
  }
}
