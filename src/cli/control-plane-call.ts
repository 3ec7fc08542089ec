// One unary call to a running control plane's gRPC port, as the CLI makes it: plaintext (the
// loopback port 15010) or TLS with the mesh root (`--tls-ca`, port 15012), and a bearer token from
// `--token-file` or $MESHWARD_TOKEN when one is given.
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import type { DescService } from "@bufbuild/protobuf";
import { grpcServiceDefinition } from "../signals/grpc-definition.js";

export interface ControlPlaneTarget {
  /** `host:port` of the control plane's gRPC port. */
  readonly server: string;
  readonly tokenFile?: string;
  /** The mesh's root certificate: speak TLS (port 15012) and verify the server with it. */
  readonly tlsCa?: string;
}

export function unaryCall<Req, Res>(t: ControlPlaneTarget, service: DescService, method: string, req: Req): Promise<Res> {
  const token = t.tokenFile ? readFileSync(t.tokenFile, "utf8").trim() : process.env.MESHWARD_TOKEN;
  const creds = t.tlsCa ? grpc.credentials.createSsl(readFileSync(t.tlsCa)) : grpc.credentials.createInsecure();
  const client = new grpc.Client(t.server, creds);
  const def = grpcServiceDefinition(service)[method];
  if (def === undefined) throw new Error(`${service.typeName} has no method ${method}`);
  const md = new grpc.Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      def.path, def.requestSerialize as (v: Req) => Buffer, def.responseDeserialize as (b: Buffer) => Res,
      req, md, { deadline: Date.now() + 10_000 },
      (err, res) => {
        client.close();
        if (err || res === undefined) reject(new Error(`${t.server}: ${err?.details || err?.message || "no response"}`));
        else resolve(res);
      },
    );
  });
}
