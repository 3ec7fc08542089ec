// The Lease holder keeps meshward's webhook configurations (the validator and the injector) able to
// reach meshward: each
// webhook's caBundle is the mesh's root bundle (the webhook's serving certificate is issued by
// meshward's CA) and, once it is, the failure policy becomes Fail, as istiod's webhook controller
// does: until the apiserver can verify the webhook a failure is ignored, afterwards an unreachable
// meshward refuses the config it would have judged (or the pod it would have injected) rather than
// let it in unchecked. Re-applied when
// the roots change, when leadership is gained, and every RESYNC_MS to repair edits.
import type { KubeClient } from "../kube/client.js";
import { KubeApiError } from "../kube/client.js";

export const RESYNC_MS = 30_000;
export const FAILURE_POLICY_ONCE_READY = "Fail";

interface WebhookConfiguration {
  metadata: { name: string; resourceVersion?: string };
  webhooks?: { name: string; clientConfig: { caBundle?: string }; failurePolicy?: string }[];
}

export function validatorName(namespace: string): string {
  return `meshward-validator-${namespace}`;
}

/** Istio's name for its injector's configuration is istio-sidecar-injector; meshward's, per namespace. */
export function injectorName(namespace: string): string {
  return `meshward-sidecar-injector-${namespace}`;
}

/** One webhook configuration meshward keeps current. */
export interface WebhookConfigurationRef {
  readonly resource: "validatingwebhookconfigurations" | "mutatingwebhookconfigurations";
  readonly name: string;
}

export function webhookConfigurations(namespace: string): WebhookConfigurationRef[] {
  return [
    { resource: "validatingwebhookconfigurations", name: validatorName(namespace) },
    { resource: "mutatingwebhookconfigurations", name: injectorName(namespace) },
  ];
}

export class WebhookCaBundle {
  private active = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: KubeClient,
    private readonly ref: WebhookConfigurationRef,
    private readonly rootsPem: () => string,
    private readonly log: (line: string) => void,
  ) {}

  /** Leading: reconcile now and every RESYNC_MS; not leading: stop. */
  setActive(active: boolean): void {
    this.active = active;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (!active) return;
    this.resync();
    this.timer = setInterval(() => this.resync(), RESYNC_MS);
    this.timer.unref();
  }

  /** Queues one reconciliation (the roots changed). */
  resync(): void {
    if (!this.active) return;
    this.running = this.running.then(() => this.reconcile()).catch((e: unknown) => this.log(`meshward webhook: ${this.ref.name}: ${(e as Error).message}`));
  }

  idle(): Promise<void> {
    return this.running;
  }

  stop(): void {
    this.setActive(false);
  }

  private async reconcile(): Promise<void> {
    const path = `/apis/admissionregistration.k8s.io/v1/${this.ref.resource}/${this.ref.name}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      let current: WebhookConfiguration;
      try {
        current = await this.client.request<WebhookConfiguration>("GET", path);
      } catch (e) {
        if (e instanceof KubeApiError && e.status === 404) return; // not installed: nothing to keep current
        throw e;
      }
      const caBundle = Buffer.from(this.rootsPem()).toString("base64");
      const webhooks = current.webhooks ?? [];
      if (webhooks.every((w) => w.clientConfig.caBundle === caBundle && w.failurePolicy === FAILURE_POLICY_ONCE_READY)) return;
      for (const w of webhooks) {
        w.clientConfig.caBundle = caBundle;
        w.failurePolicy = FAILURE_POLICY_ONCE_READY;
      }
      try {
        await this.client.request("PUT", path, current);
        this.log(`meshward webhook: ${this.ref.name}: caBundle set to the mesh roots, failurePolicy ${FAILURE_POLICY_ONCE_READY}`);
        return;
      } catch (e) {
        if (!(e instanceof KubeApiError && e.status === 409)) throw e; // 409: edited meanwhile, read again
      }
    }
  }
}
