// The gRPC ports' own listener (src/xds/listen.ts): the kernel keeps GRPC_LISTEN_BACKLOG pending
// connections (Node's default of 511 overflowed in the 10,000-proxy reconnect storm), connections
// reach the gRPC server as on a bound port, and close() stops accepting.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { XdsServer } from "../../src/xds/server.js";
import { TypeUrl } from "../../src/xds/types.js";
import { GRPC_LISTEN_BACKLOG, listenGrpc } from "../../src/xds/listen.js";
import { AdsClient, sidecarNode } from "../support/ads-client.js";
import { standardProvider } from "../support/xds-harness.js";

describe("xds: gRPC listener", () => {
  it("listens with a backlog of GRPC_LISTEN_BACKLOG (capped by somaxconn), serves ADS, and stops accepting on close", async () => {
    const server = new grpc.Server();
    const xds = new XdsServer({ provider: standardProvider(), log: () => {} });
    xds.addTo(server);
    const listener = await listenGrpc(server, "127.0.0.1:0", grpc.ServerCredentials.createInsecure());
    const port = Number(listener.address.slice(listener.address.lastIndexOf(":") + 1));
    try {
      assert.match(listener.address, /^127\.0\.0\.1:\d+$/);
      // ss reports a listening socket's backlog as its Send-Q.
      const line = execFileSync("ss", ["-Hltn", `sport = :${port}`], { encoding: "utf8" }).trim();
      const backlog = Number(line.split(/\s+/)[2]);
      const somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));
      assert.equal(backlog, Math.min(GRPC_LISTEN_BACKLOG, somaxconn), `ss: ${line}`);
      assert.ok(backlog > 511, "more than Node's default backlog");

      const ads = new AdsClient(listener.address);
      const s = ads.sotw(sidecarNode());
      s.subscribe(TypeUrl.Listener, []);
      assert.equal((await s.next()).typeUrl, TypeUrl.Listener);
      ads.close();
    } finally {
      listener.close();
      xds.close();
      server.forceShutdown();
    }
    const refused = await new Promise<string>((resolve) => {
      const c = connect(port, "127.0.0.1");
      c.on("connect", () => (c.destroy(), resolve("connected")));
      c.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    assert.equal(refused, "ECONNREFUSED");
  });
});
