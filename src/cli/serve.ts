import type { Command } from "./main.js";

export const serveCommand: Command = {
  summary: "run the control plane on a mesh-config directory (default: the embedded mesh-config/)",
  async run(): Promise<number> {
    console.error("meshward serve: not implemented yet");
    return 1;
  },
};
