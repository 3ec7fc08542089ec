// A workload for bench:node-identity, run inside a pod's cgroup: `fetch K` connects, prints
// {"ready":true}, waits for a line on stdin (so every pod starts at once, after its process has
// loaded), then opens K FetchX509SVID streams one after another on that connection and prints the
// time to each first SVID (the first includes the agent's issuance); `watch` holds one stream and prints the wall-clock time
// (Date.now) of its first SVID and of its end.
//   node node-identity-client.js <socket> fetch <K> | watch
import * as grpc from "@grpc/grpc-js";
import { createInterface } from "node:readline";
import { SpiffeWorkloadAPI } from "../src/gen/workload_pb.js";
import { grpcServiceDefinition } from "../src/signals/grpc-definition.js";

const [socket, mode, count] = process.argv.slice(2);
const def = grpcServiceDefinition(SpiffeWorkloadAPI).FetchX509SVID;
const client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
const md = new grpc.Metadata();
md.set("workload.spiffe.io", "true");

function fetchOnce(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const call = client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, {}, md, {});
    call.on("data", () => {
      resolve(performance.now() - t0);
      call.cancel();
    });
    call.on("error", (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED) reject(new Error(e.details));
    });
  });
}

if (mode === "fetch") {
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 30_000, (e) => (e ? reject(e) : resolve())));
  console.log(JSON.stringify({ ready: true }));
  await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once("line", () => resolve()));
  const ms: number[] = [];
  for (let i = 0; i < Number(count); i++) ms.push(await fetchOnce());
  console.log(JSON.stringify({ ms }));
  process.exit(0);
} else {
  const call = client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, {}, md, {});
  call.on("data", () => console.log(JSON.stringify({ svidAt: Date.now() })));
  call.on("error", (e: grpc.ServiceError) => {
    console.log(JSON.stringify({ closedAt: Date.now(), code: grpc.status[e.code] }));
    process.exit(0);
  });
}
