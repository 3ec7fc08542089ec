// Pod attribution on Kubernetes: the node agent watches the pods scheduled on its own node in the
// apiserver (`spec.nodeName=<node>` field selector, so a node sees and holds only its own pods), with
// the DaemonSet's ServiceAccount, which may get/list/watch pods and nothing else. The kubelet's
// `/pods` stays the fallback for nodes where the agent cannot reach the apiserver.
import { Informer } from "../../kube/informer.js";
import type { KubeClient } from "../../kube/client.js";
import { PodResource } from "../../kube/resources.js";
import { podsFromPodList, type PodInfo } from "./pod-directory.js";

export interface ApiserverPodSourceOptions {
  readonly client: KubeClient;
  readonly node: string;
  /** Called with every pod of this node after each change. */
  readonly onPods: (pods: PodInfo[]) => void;
  readonly log: (line: string) => void;
}

export function nodePodSelector(node: string): string {
  return `spec.nodeName=${node}`;
}

/** Starts the watch; the returned informer is stopped by the caller. */
export function watchNodePods(opts: ApiserverPodSourceOptions): Informer {
  const informer: Informer = new Informer({
    client: opts.client,
    resource: PodResource,
    fieldSelector: nodePodSelector(opts.node),
    log: opts.log,
    onEvents: () => opts.onPods(podsFromPodList({ items: informer.list() })),
  });
  informer.start();
  return informer;
}
