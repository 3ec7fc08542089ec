// The meshward command line. Each command lives in its own module and is loaded on demand so that
// `meshward x authz` does not pay for the xDS server and the agent does not load the CA.
export interface Command {
  readonly summary: string;
  run(args: string[]): Promise<number>;
}

const commands: Record<string, () => Promise<Command>> = {
  serve: async () => (await import("./serve.js")).serveCommand,
  agent: async () => (await import("./agent.js")).agentCommand,
  quarantine: async () => (await import("./quarantine.js")).quarantineCommand,
  risk: async () => (await import("./risk.js")).riskCommand,
  events: async () => (await import("./events.js")).eventsCommand,
  token: async () => (await import("./token.js")).tokenCommand,
  "workload-certs": async () => (await import("./workload-certs.js")).workloadCertsCommand,
  "proxy-status": async () => (await import("./proxy-status.js")).proxyStatusCommand,
  "proxy-config": async () => (await import("./proxy-config.js")).proxyConfigCommand,
  validate: async () => (await import("./validate.js")).validateCommand,
  bootstrap: async () => (await import("./bootstrap.js")).bootstrapCommand,
  analyze: async () => (await import("./analyze.js")).analyzeCommand,
  manifest: async () => (await import("./manifest.js")).manifestCommand,
  install: async () => (await import("./install.js")).installCommand,
  uninstall: async () => (await import("./install.js")).uninstallCommand,
  ca: async () => (await import("./ca.js")).caCommand,
  "create-remote-secret": async () => (await import("./create-remote-secret.js")).createRemoteSecretCommand,
  x: async () => (await import("./x.js")).xCommand,
};

/** The command list with each command's summary (loads every command: for help only). */
async function usage(): Promise<string> {
  const names = Object.keys(commands).sort();
  const summaries = await Promise.all(names.map(async (n) => (await commands[n]!()).summary));
  const width = Math.max(...names.map((n) => n.length));
  return [
    "usage: meshward <command> [flags]       (meshward <command> --help for its flags)",
    "",
    "commands:",
    ...names.map((n, i) => `  ${n.padEnd(width)}  ${summaries[i]}`),
  ].join("\n");
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    console.log(await usage());
    return;
  }
  const load = commands[name];
  if (load === undefined) {
    console.error(`meshward: unknown command "${name}"\n\n${await usage()}`);
    process.exitCode = 2;
    return;
  }
  const code = await (await load()).run(rest);
  if (code !== 0) process.exitCode = code;
}
