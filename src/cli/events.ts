// `meshward events`: signals the control plane received, from its API or its store file.
import * as grpc from "@grpc/grpc-js";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toJson } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ListSignalsRequestSchema, Severity, SignalService, StoredSignalSchema, type ListSignalsRequest, type ListSignalsResponse, type StoredSignal,
} from "../gen/meshward/agent/v1/signals_pb.js";
import { grpcServiceDefinition } from "../signals/grpc-definition.js";
import { SignalStore } from "../signals/store.js";
import type { Command } from "./main.js";

function listRemote(address: string, token: string | undefined, ca: string | undefined, req: ListSignalsRequest): Promise<StoredSignal[]> {
  const creds = ca ? grpc.credentials.createSsl(readFileSync(ca)) : grpc.credentials.createInsecure();
  const client = new grpc.Client(address, creds);
  const def = grpcServiceDefinition(SignalService).ListSignals;
  const md = new grpc.Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      def.path, def.requestSerialize as (v: ListSignalsRequest) => Buffer, def.responseDeserialize as (b: Buffer) => ListSignalsResponse,
      req, md, { deadline: Date.now() + 10_000 },
      (err, res) => {
        client.close();
        if (err) reject(new Error(`${address}: ${err.details || err.message}`));
        else resolve(res?.signals ?? []);
      },
    );
  });
}

export const eventsCommand: Command = {
  summary: "list runtime signals received from node agents",
  async run(args: string[]): Promise<number> {
    const { values } = parseArgs({
      args, options: {
        server: { type: "string" }, "token-file": { type: "string" }, "tls-ca": { type: "string" }, "data-dir": { type: "string", default: ".meshward" },
        node: { type: "string" }, pod: { type: "string" }, namespace: { type: "string" }, detection: { type: "string" },
        since: { type: "string" }, limit: { type: "string", default: "100" }, json: { type: "boolean" },
      },
    });
    const since = values.since ? new Date(values.since) : undefined;
    let signals: StoredSignal[];
    if (values.server) {
      const token = values["token-file"] ? readFileSync(values["token-file"], "utf8").trim() : process.env.MESHWARD_TOKEN;
      signals = await listRemote(values.server, token, values["tls-ca"], create(ListSignalsRequestSchema, {
        node: values.node ?? "", podUid: values.pod ?? "", namespace: values.namespace ?? "", detectionId: values.detection ?? "",
        limit: Number(values.limit), ...(since ? { since: timestampFromDate(since) } : {}),
      }));
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
