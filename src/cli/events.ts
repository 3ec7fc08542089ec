// `meshward events`: signals the control plane received, from its API or its store file.
import * as grpc from "@grpc/grpc-js";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toJson } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AgentStatusSchema, ListAgentsRequestSchema, ListSignalsRequestSchema, Severity, SignalService, StoredSignalSchema,
  type AgentStatus, type ListAgentsRequest, type ListAgentsResponse, type ListSignalsRequest, type ListSignalsResponse, type StoredSignal,
} from "../gen/meshward/agent/v1/signals_pb.js";
import { grpcServiceDefinition } from "../signals/grpc-definition.js";
import { SignalStore } from "../signals/store.js";
import type { Command } from "./main.js";

/** One unary call of the signal service with the caller's token. */
function callSignalService<Req, Res>(address: string, token: string | undefined, ca: string | undefined, method: "ListSignals" | "ListAgents", req: Req): Promise<Res> {
  const creds = ca ? grpc.credentials.createSsl(readFileSync(ca)) : grpc.credentials.createInsecure();
  const client = new grpc.Client(address, creds);
  const def = grpcServiceDefinition(SignalService)[method];
  const md = new grpc.Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      def.path, def.requestSerialize as (v: Req) => Buffer, def.responseDeserialize as (b: Buffer) => Res,
      req, md, { deadline: Date.now() + 10_000 },
      (err, res) => {
        client.close();
        if (err || res === undefined) reject(new Error(`${address}: ${err?.details || err?.message || "no response"}`));
        else resolve(res);
      },
    );
  });
}

function printAgents(agents: AgentStatus[], json: boolean | undefined): void {
  for (const a of agents) {
    if (json) {
      console.log(JSON.stringify(toJson(AgentStatusSchema, a)));
      continue;
    }
    const h = a.health;
    console.log(`${a.node} ${a.connected ? "connected" : "disconnected"} hooks=${a.hello?.hooksAttached.length ?? 0} unavailable=[${a.hello?.hooksFailed.join(",") ?? ""}] events=${h?.events ?? 0} ringbuf_drops=${h?.ringbufDrops ?? 0} throttled=${h?.throttled ?? 0} buffer_drops=${h?.bufferDrops ?? 0}`);
  }
}

const USAGE = `usage: meshward events [--server host:port --token-file f [--tls-ca f]] [--data-dir d]
                       [--node n] [--pod uid] [--namespace ns] [--detection id] [--since iso] [--limit n] [--json]
       meshward events --agents --server host:port --token-file f     node agents: hooks, drops, connection
Without --server the control plane's store file <data-dir>/signals.jsonl is read. A reader token:
  meshward token create --namespace meshward-system --service-account <reader> --audience meshward-signals
(a node's own token lists only that node's signals).`;

export const eventsCommand: Command = {
  summary: "list runtime signals received from node agents",
  async run(args: string[]): Promise<number> {
    const { values } = parseArgs({
      args, options: {
        server: { type: "string" }, "token-file": { type: "string" }, "tls-ca": { type: "string" }, "data-dir": { type: "string", default: ".meshward" },
        node: { type: "string" }, pod: { type: "string" }, namespace: { type: "string" }, detection: { type: "string" },
        since: { type: "string" }, limit: { type: "string", default: "100" }, json: { type: "boolean" }, agents: { type: "boolean" },
        help: { type: "boolean" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const since = values.since ? new Date(values.since) : undefined;
    let signals: StoredSignal[];
    const token = values["token-file"] ? readFileSync(values["token-file"], "utf8").trim() : process.env.MESHWARD_TOKEN;
    if (values.agents) {
      if (!values.server) {
        console.error("meshward events --agents: needs --server <host:port> (agent health lives in the running control plane)");
        return 2;
      }
      const res = await callSignalService<ListAgentsRequest, ListAgentsResponse>(values.server, token, values["tls-ca"], "ListAgents", create(ListAgentsRequestSchema));
      printAgents(res.agents, values.json);
      return 0;
    }
    if (values.server) {
      const res = await callSignalService<ListSignalsRequest, ListSignalsResponse>(values.server, token, values["tls-ca"], "ListSignals", create(ListSignalsRequestSchema, {
        node: values.node ?? "", podUid: values.pod ?? "", namespace: values.namespace ?? "", detectionId: values.detection ?? "",
        limit: Number(values.limit), ...(since ? { since: timestampFromDate(since) } : {}),
      }));
      signals = res.signals;
    } else {
      const file = join(values["data-dir"], "signals.jsonl");
      if (!existsSync(file)) {
        console.error(`meshward events: ${file} does not exist; pass --server <host:port> to ask a running control plane`);
        return 1;
      }
      const store = new SignalStore(file);
      signals = store.query({ node: values.node, podUid: values.pod, namespace: values.namespace, detectionId: values.detection, since, limit: Number(values.limit) });
      store.close();
    }
    for (const st of signals) {
      const s = st.signal;
      if (s === undefined) continue;
      if (values.json) {
        console.log(JSON.stringify(toJson(StoredSignalSchema, st)));
        continue;
      }
      const when = s.eventTime ? timestampDate(s.eventTime).toISOString() : "-";
      const where = s.pod ? `${s.pod.namespace}/${s.pod.name}` : "(host)";
      console.log(`${when} ${Severity[s.severity]?.padEnd(8)} ${s.detection?.id} ${s.detection?.mitreTechnique} node=${s.node} pod=${where} container=${s.container?.name || s.container?.id.slice(0, 12)} ${s.process?.binary} ${s.process?.args.join(" ")}`);
    }
    return 0;
  },
};
