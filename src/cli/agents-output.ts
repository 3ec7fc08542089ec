// `meshward events --agents`: what a running control plane knows of its node agents (hooks,
// unavailable hooks, ring-buffer/throttle/buffer drops), asked over the signal service.
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { create, toJson } from "@bufbuild/protobuf";
import { AgentStatusSchema, ListAgentsRequestSchema, SignalService, type ListAgentsRequest, type ListAgentsResponse } from "../gen/meshward/agent/v1/signals_pb.js";
import { grpcServiceDefinition } from "../signals/grpc-definition.js";

function listAgents(address: string, token: string | undefined, ca: string | undefined): Promise<ListAgentsResponse> {
  const creds = ca ? grpc.credentials.createSsl(readFileSync(ca)) : grpc.credentials.createInsecure();
  const client = new grpc.Client(address, creds);
  const def = grpcServiceDefinition(SignalService).ListAgents;
  const md = new grpc.Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      def.path, def.requestSerialize as (v: ListAgentsRequest) => Buffer, def.responseDeserialize as (b: Buffer) => ListAgentsResponse,
      create(ListAgentsRequestSchema), md, { deadline: Date.now() + 10_000 },
      (err, res) => {
        client.close();
        if (err || res === undefined) reject(new Error(`${address}: ${err?.details || err?.message || "no response"}`));
        else resolve(res);
      },
    );
  });
}

/** Prints one line (or JSON object) per agent; the token comes from the file or $MESHWARD_TOKEN. */
export async function printAgents(server: string, tokenFile: string | undefined, ca: string | undefined, json: boolean): Promise<number> {
  const token = tokenFile ? readFileSync(tokenFile, "utf8").trim() : process.env.MESHWARD_TOKEN;
  const res = await listAgents(server, token, ca);
  for (const a of res.agents) {
    if (json) {
      console.log(JSON.stringify(toJson(AgentStatusSchema, a)));
      continue;
    }
    const h = a.health;
    console.log(`${a.node} ${a.connected ? "connected" : "disconnected"} hooks=${a.hello?.hooksAttached.length ?? 0} unavailable=[${a.hello?.hooksFailed.join(",") ?? ""}] events=${h?.events ?? 0} ringbuf_drops=${h?.ringbufDrops ?? 0} throttled=${h?.throttled ?? 0} buffer_drops=${h?.bufferDrops ?? 0}`);
  }
  if (res.agents.length === 0) console.log("no agents");
  return 0;
}
