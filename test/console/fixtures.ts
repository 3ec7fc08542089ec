// What the console tests share: a small shop: a cart service behind one workload that only frontend may
// call (ALLOW by principal), a frontend and a batch job, STRICT mTLS in the namespace.
import { TypeUrl } from "../../src/xds/types.js";
import type { AdsClient, SotwClientStream } from "../support/ads-client.js";

export const SHOP_MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cart, namespace: shop}
spec:
  hosts: [cart.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 7070, name: grpc, protocol: GRPC}]
  workloadSelector: {labels: {app: cart}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: frontend, namespace: shop}
spec:
  hosts: [frontend.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: frontend}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: cart-0, namespace: shop}
spec: {address: 10.1.0.41, labels: {app: cart}, serviceAccount: cart}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: frontend-0, namespace: shop}
spec: {address: 10.1.0.42, labels: {app: frontend}, serviceAccount: frontend}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: batch-0, namespace: shop}
spec: {address: 10.1.0.43, labels: {app: batch}, serviceAccount: batch}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: cart-callers, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/shop/sa/frontend]}}]
`;

/** A proxy that ACKs everything it is sent, as a healthy one does, until its stream ends. */
export function ackEverything(stream: SotwClientStream): void {
  void (async () => {
    for (;;) {
      try {
        stream.ack(await stream.next(600_000));
      } catch {
        return;
      }
    }
  })();
}

/** A sidecar of `pod` on node-1 (so the control plane places the pod the agent reports), ACKing everything. */
export function shopProxy(ads: AdsClient, pod: string, ip: string, serviceAccount: string): SotwClientStream {
  const s = ads.sotw({ id: `sidecar~${ip}~${pod}.shop~shop.svc.cluster.local`, metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: serviceAccount, NODE_NAME: "node-1" } });
  s.subscribe(TypeUrl.Cluster, []);
  s.subscribe(TypeUrl.Listener, []);
  ackEverything(s);
  return s;
}
