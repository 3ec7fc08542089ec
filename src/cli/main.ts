// The meshward command line. Each command lives in its own module and is loaded on demand so that
// `meshward x authz` does not pay for the xDS server and the agent does not load the CA.
export interface Command {
  readonly summary: string;
  run(args: string[]): Promise<number>;
}

const commands: Record<string, () => Promise<Command>> = {
  serve: async () => (await import("./serve.js")).serveCommand,
  agent: async () => (await import("./agent.js")).agentCommand,
  events: async () => (await import("./events.js")).eventsCommand,
  token: async () => (await import("./token.js")).tokenCommand,
  "workload-certs": async () => (await import("./workload-certs.js")).workloadCertsCommand,
};

function usage(): string {
  const lines = ["usage: meshward <command> [flags]", "", "commands:"];
  return lines.concat(Object.keys(commands).sort().map((c) => `  ${c}`)).join("\n");
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    console.log(usage());
    return;
  }
  const load = commands[name];
  if (load === undefined) {
    console.error(`meshward: unknown command "${name}"\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  const code = await (await load()).run(rest);
  if (code !== 0) process.exitCode = code;
}
