// The control plane's view of its node agents: hooks attached, last health report (ring-buffer
// drops, throttling, buffer drops), connection state.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AgentStatusSchema, type AgentHealth, type AgentHello, type AgentStatus } from "../gen/meshward/agent/v1/signals_pb.js";

export class AgentRegistry {
  private readonly byNode = new Map<string, { hello?: AgentHello; health?: AgentHealth; streams: number; lastSeen: Date }>();

  private entry(node: string): { hello?: AgentHello; health?: AgentHealth; streams: number; lastSeen: Date } {
    let e = this.byNode.get(node);
    if (e === undefined) {
      e = { streams: 0, lastSeen: new Date() };
      this.byNode.set(node, e);
    }
    e.lastSeen = new Date();
    return e;
  }

  connected(node: string): void {
    this.entry(node).streams++;
  }

  disconnected(node: string): void {
    const e = this.entry(node);
    e.streams = Math.max(0, e.streams - 1);
  }

  hello(node: string, hello: AgentHello): void {
    this.entry(node).hello = hello;
  }

  health(node: string, health: AgentHealth): void {
    this.entry(node).health = health;
  }

  list(node?: string): AgentStatus[] {
    return [...this.byNode.entries()]
      .filter(([n]) => node === undefined || n === node)
      .map(([n, e]) => create(AgentStatusSchema, { node: n, hello: e.hello, health: e.health, connected: e.streams > 0, lastSeen: timestampFromDate(e.lastSeen) }));
  }
}
