// `meshward events --server`: what a running control plane's signal service reports. `--agents`:
// its node agents' hooks, unavailable hooks and what they could not deliver (only the running
// control plane holds that); otherwise the signals it stored, as the agents sent them.
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { create, toJson } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AgentStatusSchema, ListAgentsRequestSchema, ListSignalsRequestSchema, Severity, SignalService, StoredSignalSchema,
  type ListAgentsRequest, type ListAgentsResponse, type ListSignalsRequest, type ListSignalsResponse,
} from "../gen/meshward/agent/v1/signals_pb.js";
import { grpcServiceDefinition } from "../signals/grpc-definition.js";

export interface SignalApiTarget {
  readonly server: string;
  readonly tokenFile?: string;
  readonly tlsCa?: string;
}

/** One unary call of the signal service with the caller's token (file, or $MESHWARD_TOKEN). */
function call<Req, Res>(t: SignalApiTarget, method: "ListSignals" | "ListAgents", req: Req): Promise<Res> {
  const token = t.tokenFile ? readFileSync(t.tokenFile, "utf8").trim() : process.env.MESHWARD_TOKEN;
  const creds = t.tlsCa ? grpc.credentials.createSsl(readFileSync(t.tlsCa)) : grpc.credentials.createInsecure();
  const client = new grpc.Client(t.server, creds);
  const def = grpcServiceDefinition(SignalService)[method];
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

export async function printAgents(t: SignalApiTarget, json: boolean): Promise<number> {
  const res = await call<ListAgentsRequest, ListAgentsResponse>(t, "ListAgents", create(ListAgentsRequestSchema));
  for (const a of res.agents) {
    if (json) {
      console.log(JSON.stringify(toJson(AgentStatusSchema, a)));
      continue;
    }
    const h = a.health;
    console.log(`${a.node} ${a.connected ? "connected" : "disconnected"} hooks=${a.hello?.hooksAttached.length ?? 0} unavailable=[${a.hello?.hooksFailed.join(",") ?? ""}] events=${h?.events ?? 0} ringbuf_drops=${h?.ringbufDrops ?? 0} throttled=${h?.throttled ?? 0} buffer_drops=${h?.bufferDrops ?? 0}`);
  }
  if (res.agents.length === 0 && !json) console.log("no agents");
  return 0;
}

export interface ApiSignalFilter {
  readonly node?: string;
  readonly pod?: string;
  readonly namespace?: string;
  readonly detection?: string;
  readonly sinceMs?: number;
  readonly limit?: number;
}

/** One line per signal (JSON lines with --json), oldest first. */
export async function printApiSignals(t: SignalApiTarget, f: ApiSignalFilter, json: boolean): Promise<number> {
  const res = await call<ListSignalsRequest, ListSignalsResponse>(t, "ListSignals", create(ListSignalsRequestSchema, {
    node: f.node ?? "", podUid: f.pod ?? "", namespace: f.namespace ?? "", detectionId: f.detection ?? "", limit: f.limit ?? 100,
    ...(f.sinceMs !== undefined ? { since: timestampFromDate(new Date(f.sinceMs)) } : {}),
  }));
  for (const st of res.signals) {
    const s = st.signal;
    if (s === undefined) continue;
    if (json) {
      console.log(JSON.stringify(toJson(StoredSignalSchema, st)));
      continue;
    }
    const when = s.eventTime ? timestampDate(s.eventTime).toISOString() : "-";
    const where = s.pod ? `${s.pod.namespace}/${s.pod.name}` : "(host)";
    console.log(`${when} ${Severity[s.severity]?.padEnd(8)} ${s.detection?.id} ${s.detection?.mitreTechnique} node=${s.node} pod=${where} container=${s.container?.name || s.container?.id.slice(0, 12)} ${s.process?.binary} ${s.process?.args.join(" ")}`);
  }
  return 0;
}
