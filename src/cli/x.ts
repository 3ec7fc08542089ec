// `meshward x <tool>`: experimental and debugging tools, each loaded on demand.
import type { Command } from "./main.js";

const tools: Record<string, () => Promise<Command>> = {
  authz: async () => (await import("./x-authz.js")).xAuthzCommand,
};

async function usage(): Promise<string> {
  const names = Object.keys(tools).sort();
  const summaries = await Promise.all(names.map(async (n) => (await tools[n]!()).summary));
  return ["usage: meshward x <tool> [flags]       (meshward x <tool> --help for its flags)", "", "tools:", ...names.map((t, i) => `  ${t}  ${summaries[i]}`)].join("\n");
}

export const xCommand: Command = {
  summary: "debugging tools (x authz: the authorization filters a workload receives)",
  async run(args: string[]): Promise<number> {
    const [name, ...rest] = args;
    if (name === "-h" || name === "--help") {
      console.log(await usage());
      return 0;
    }
    if (name === undefined) {
      console.error(`meshward x: missing tool\n\n${await usage()}`);
      return 2;
    }
    const load = tools[name];
    if (load === undefined) {
      console.error(`meshward x: unknown tool "${name}"\n\n${await usage()}`);
      return 2;
    }
    return (await load()).run(rest);
  },
};
