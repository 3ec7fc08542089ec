// `meshward x <tool>`: experimental and debugging tools, each loaded on demand.
import type { Command } from "./main.js";

const tools: Record<string, () => Promise<Command>> = {
  authz: async () => (await import("./x-authz.js")).xAuthzCommand,
};

function usage(): string {
  return ["usage: meshward x <tool> [flags]", "", "tools:", ...Object.keys(tools).sort().map((t) => `  ${t}`)].join("\n");
}

export const xCommand: Command = {
  summary: "debugging tools (x authz: the authorization filters a workload receives)",
  async run(args: string[]): Promise<number> {
    const [name, ...rest] = args;
    if (name === undefined || name === "-h" || name === "--help") {
      console.log(usage());
      return name === undefined ? 2 : 0;
    }
    const load = tools[name];
    if (load === undefined) {
      console.error(`meshward x: unknown tool "${name}"\n\n${usage()}`);
      return 2;
    }
    return (await load()).run(rest);
  },
};
