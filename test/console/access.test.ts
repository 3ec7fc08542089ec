// The read API's access rules for callers the loopback-only tests cannot be (src/console/access.ts),
// with requests whose peer address is set by hand (a unit test with fakes; the real listener is
// exercised by read-api.test.ts): another machine needs a console token, and never over plaintext.
import { strict as assert } from "node:assert";
import type { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { ConsoleAccess, ConsoleAccessError, CONSOLE_AUDIENCE, isLoopbackHost } from "../../src/console/access.js";
import { MeshwardTokenAuthenticator } from "../../src/security/token-authenticator.js";
import { TokenKey } from "../../src/security/token-key.js";

const key = TokenKey.generate();
const authenticators = [new MeshwardTokenAuthenticator({ trustDomain: "cluster.local", publicKeys: [key.publicKey], audiences: [CONSOLE_AUDIENCE] })];

function request(peer: string, headers: Record<string, string>): IncomingMessage {
  const socket = new Socket();
  Object.defineProperty(socket, "remoteAddress", { value: peer });
  Object.defineProperty(socket, "remotePort", { value: 40000 });
  return { socket, headers, method: "GET", url: "/api/v1/view" } as unknown as IncomingMessage;
}

async function refused(p: Promise<unknown>, status: number, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof ConsoleAccessError && e.status === status && message.test(e.message));
}

describe("console access: callers from other machines", () => {
  const token = `Bearer ${key.mint({ namespace: "istio-system", serviceAccount: "oncall", audiences: [CONSOLE_AUDIENCE] })}`;

  it("refuses a caller from another machine without a token", async () => {
    const access = new ConsoleAccess({ authenticators, adminNamespace: "istio-system", tls: true });
    await refused(access.authenticate(request("10.0.0.5", { host: "meshward.example:15080" })), 401, /from 10\.0\.0\.5:40000: no credentials/);
  });

  it("takes an admin console token over HTTPS from another machine", async () => {
    const access = new ConsoleAccess({ authenticators, adminNamespace: "istio-system", tls: true });
    assert.deepEqual(await access.authenticate(request("10.0.0.5", { host: "meshward.example:15080", authorization: token })), { who: "istio-system/oncall" });
  });

  it("refuses a token from another machine over plaintext, even a valid one", async () => {
    const access = new ConsoleAccess({ authenticators, adminNamespace: "istio-system", tls: false });
    await refused(access.authenticate(request("2001:db8::5", { host: "[2001:db8::1]:15080", authorization: token })), 401, /bearer token from \[2001:db8::5\]:40000 refused over plaintext/);
  });

  it("knows loopback hosts by name and address, with or without a port", () => {
    for (const h of ["localhost", "localhost:15080", "127.0.0.1:15080", "127.1.2.3", "[::1]:15080", "::1"]) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ["meshward.example", "10.0.0.1:15080", "[2001:db8::1]:80", "localhost.attacker.example", undefined]) assert.equal(isLoopbackHost(h), false, String(h));
  });
});
