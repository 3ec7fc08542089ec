// `meshward install` / `meshward uninstall`: the objects of `meshward manifest generate`, applied
// with server-side apply and waited for, or removed (istioctl install / uninstall).
import { applyInstall, removeInstall } from "../install/apply.js";
import { installValues } from "../install/manifest.js";
import { KubeClient } from "../kube/client.js";
import { SET_USAGE } from "./manifest.js";
import { parseDurationSeconds, parseFlags, runCommand } from "./flags.js";
import type { Command } from "./main.js";

const KUBE_USAGE = `  --kubeconfig FILE the cluster (default: $KUBECONFIG, else in-cluster configuration)`;

const INSTALL_USAGE = `usage: meshward install [--kubeconfig FILE] [--set key=value ...] [--wait=false] [--timeout 5m]
${KUBE_USAGE}
  --wait            wait until the control plane's Deployment is available (default true; CRDs are always
                    waited for)
  --timeout D       how long to wait (default 5m)
${SET_USAGE}`;

const UNINSTALL_USAGE = `usage: meshward uninstall [--kubeconfig FILE] [--set namespace=NS]
${KUBE_USAGE}
Removes every object meshward install applied; the namespace is kept (other things may live in it).`;

function clientOf(flag: string | undefined): KubeClient {
  const file = flag ?? (process.env["KUBECONFIG"] || undefined);
  return new KubeClient(file !== undefined ? { kubeconfig: file } : {});
}

export const installCommand: Command = {
  summary: "install meshward's control plane in a cluster (server-side apply, then wait for it)",
  run: (args) =>
    runCommand("install", INSTALL_USAGE, async () => {
      const { values } = parseFlags(args, {
        kubeconfig: { type: "string" },
        set: { type: "string", multiple: true, default: [] },
        wait: { type: "string", default: "true" },
        timeout: { type: "string", default: "5m" },
      });
      const v = installValues(values.set);
      const objects = await applyInstall(clientOf(values.kubeconfig), v, {
        wait: values.wait !== "false",
        timeoutMs: parseDurationSeconds(values.timeout, "timeout") * 1000,
        log: (l) => console.log(l),
      });
      console.log(`meshward installed in namespace ${v.namespace}: ${objects.length} objects`);
      return 0;
    }),
};

export const uninstallCommand: Command = {
  summary: "remove what meshward install applied (the namespace is kept)",
  run: (args) =>
    runCommand("uninstall", UNINSTALL_USAGE, async () => {
      const { values } = parseFlags(args, { kubeconfig: { type: "string" }, set: { type: "string", multiple: true, default: [] } });
      const v = installValues(values.set);
      const removed = await removeInstall(clientOf(values.kubeconfig), v, (l) => console.log(l));
      console.log(`meshward uninstalled from namespace ${v.namespace}: ${removed.length} objects removed`);
      return 0;
    }),
};
