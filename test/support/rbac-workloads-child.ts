// The child process of RbacWorkloads: real grpc-js-xds servers and clients with RBAC enabled.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { EchoServer, bootstrap, bootstrapOption } from "./proxyless.js";
import * as grpcXds from "@grpc/grpc-js-xds";
import type { CallResult, WorkloadRequest } from "./rbac-workloads.js";

assert.equal(process.env["GRPC_XDS_EXPERIMENTAL_RBAC"], "true", "grpc-js-xds must load with RBAC enabled");

const servers = new Map<string, EchoServer>();
const clients = new Map<string, grpc.Client>();
const identity = (b: Buffer): Buffer => b;

function call(client: grpc.Client, method: string, headers: Record<string, string>, timeoutMs: number): Promise<CallResult> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, identity, identity, Buffer.from("ping"), md, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res?: Buffer) =>
      resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, value: res?.toString() ?? "" }),
    );
  });
}

async function handle(req: WorkloadRequest): Promise<CallResult | undefined> {
  switch (req.op) {
    case "server": {
      const s = new EchoServer(req.name, req.xds, req.node, req.bootstrap);
      servers.set(req.name, s);
      await s.start(req.address);
      return undefined;
    }
    case "client": {
      const c = new grpc.Client(`xds:///${req.target}`, new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
        [bootstrapOption]: req.bootstrap ?? bootstrap(req.xds, req.node),
      } as grpc.ChannelOptions);
      clients.set(req.name, c);
      return undefined;
    }
    case "stop-server": {
      servers.get(req.name)?.stop();
      servers.delete(req.name);
      return undefined;
    }
    case "call": {
      const c = clients.get(req.client);
      if (c === undefined) throw new Error(`no client ${req.client}`);
      return call(c, req.method ?? "/meshward.test.Echo/Echo", req.headers ?? {}, req.timeoutMs ?? 5000);
    }
  }
}

process.on("message", (m: { id: number } & WorkloadRequest) => {
  handle(m).then(
    (result) => process.send?.({ id: m.id, ...(result !== undefined ? { result } : {}) }),
    (e: unknown) => process.send?.({ id: m.id, error: e instanceof Error ? e.message : String(e) }),
  );
});
process.on("disconnect", () => {
  for (const s of servers.values()) s.stop();
  for (const c of clients.values()) c.close();
  process.exit(0);
});
