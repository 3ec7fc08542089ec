// `meshward events --server`: what a running control plane's signal service reports. `--agents`:
// its node agents' hooks, unavailable hooks and what they could not deliver (only the running
// control plane holds that); otherwise the signals it stored, as the agents sent them.
import { create, toJson } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AgentStatusSchema, ListAgentsRequestSchema, ListSignalsRequestSchema, Severity, SignalService, StoredSignalSchema,
  type ListAgentsRequest, type ListAgentsResponse, type ListSignalsRequest, type ListSignalsResponse,
} from "../gen/meshward/agent/v1/signals_pb.js";
import { unaryCall, type ControlPlaneTarget } from "./control-plane-call.js";

export type SignalApiTarget = ControlPlaneTarget;

function call<Req, Res>(t: SignalApiTarget, method: "ListSignals" | "ListAgents", req: Req): Promise<Res> {
  return unaryCall<Req, Res>(t, SignalService, method, req);
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
