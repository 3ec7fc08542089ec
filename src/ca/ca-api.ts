// The wire definition of istio.v1.auth.IstioCertificateService, shared by the server and by
// meshward's own clients (workload-certs, tests, benchmarks), encoded with @bufbuild/protobuf.
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import {
  IstioCertificateRequestSchema,
  IstioCertificateResponseSchema,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
} from "../gen/istio/v1/auth/ca_pb.js";

export const CREATE_CERTIFICATE_PATH = "/istio.v1.auth.IstioCertificateService/CreateCertificate";

export const caServiceDefinition = {
  CreateCertificate: {
    path: CREATE_CERTIFICATE_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: IstioCertificateRequest): Buffer => Buffer.from(toBinary(IstioCertificateRequestSchema, m)),
    requestDeserialize: (b: Buffer): IstioCertificateRequest => fromBinary(IstioCertificateRequestSchema, b),
    responseSerialize: (m: IstioCertificateResponse): Buffer => Buffer.from(toBinary(IstioCertificateResponseSchema, m)),
    responseDeserialize: (b: Buffer): IstioCertificateResponse => fromBinary(IstioCertificateResponseSchema, b),
  },
} satisfies grpc.ServiceDefinition;

export interface CertificateRequestInput {
  readonly csrPem: string;
  readonly ttlSeconds?: number;
  readonly metadata?: JsonObject;
  /** A bearer token sent as `authorization: Bearer <token>`. */
  readonly token?: string;
  /** The caller's cluster, sent as `clusterid` (Istio's agent does): whose apiserver reviews the token. */
  readonly clusterId?: string;
}

/** A small client for the CSR API. */
export class CaClient {
  private readonly client: grpc.Client;

  constructor(address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions = {}) {
    this.client = new grpc.Client(address, credentials, options);
  }

  createCertificate(input: CertificateRequestInput, deadlineMs = 10_000): Promise<string[]> {
    const request = create(IstioCertificateRequestSchema, {
      csr: input.csrPem,
      validityDuration: BigInt(input.ttlSeconds ?? 0),
      metadata: input.metadata,
    });
    const md = new grpc.Metadata();
    if (input.token !== undefined) md.set("authorization", `Bearer ${input.token}`);
    if (input.clusterId !== undefined) md.set("clusterid", input.clusterId);
    const def = caServiceDefinition.CreateCertificate;
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        md,
        { deadline: Date.now() + deadlineMs },
        (err, res) => (err !== null || res === undefined ? reject(err) : resolve(res.certChain)),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
