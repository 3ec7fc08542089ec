// Who may call whom (src/console/call-graph.ts), table-driven over Istio AuthorizationPolicy
// semantics as Envoy's RBAC filter applies them: DENY before ALLOW, no ALLOW policy allows all,
// principals only over mTLS, addresses and destination.ip known, anything about the request
// ("to", other "when" keys, request principals) making the answer conditional.
import { strict as assert } from "node:assert";
import type { AuthorizationPolicy, AuthorizationPolicySpec } from "../../src/authz/policy.js";
import { decideCall, type CallDecision, type CallParty } from "../../src/console/call-graph.js";

const web: CallParty = { namespace: "shop", labels: { app: "web" }, address: "fd00::11", trustDomain: "cluster.local", serviceAccount: "web" };
const cart: CallParty = { namespace: "shop", labels: { app: "cart" }, address: "fd00::12", trustDomain: "cluster.local", serviceAccount: "cart" };
const ops: CallParty = { namespace: "ops", labels: { app: "job" }, address: "10.0.0.9", trustDomain: "cluster.local", serviceAccount: "job" };

function policy(name: string, spec: AuthorizationPolicySpec, namespace = "shop", annotations: Record<string, string> = {}): AuthorizationPolicy {
  return { name, namespace, annotations, spec, origin: { file: "test.yaml" } };
}

const allowFromWeb = policy("allow-web", { selector: { matchLabels: { app: "cart" } }, action: "ALLOW", rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/web"] } }] }] });

interface Case {
  readonly name: string;
  readonly policies: readonly AuthorizationPolicy[];
  readonly from: CallParty;
  readonly to?: CallParty;
  readonly mtls?: boolean;
  readonly want: CallDecision;
  readonly by?: readonly string[];
}

const cases: Case[] = [
  { name: "no policy allows every call", policies: [], from: web, want: "allowed", by: [] },
  { name: "an ALLOW by principal allows its principal", policies: [allowFromWeb], from: web, want: "allowed", by: ["shop/allow-web"] },
  { name: "an ALLOW by principal denies every other caller", policies: [allowFromWeb], from: ops, want: "denied", by: ["shop/allow-web"] },
  { name: "a principal means nothing over plaintext: denied", policies: [allowFromWeb], from: web, mtls: false, want: "denied" },
  { name: "an ALLOW selecting another workload does not apply", policies: [policy("other", { selector: { matchLabels: { app: "db" } }, action: "ALLOW", rules: [] })], from: ops, want: "allowed" },
  { name: "an ALLOW without rules allows nothing", policies: [policy("nothing", { action: "ALLOW" })], from: web, want: "denied" },
  { name: "an ALLOW with an empty rule allows everything", policies: [policy("all", { action: "ALLOW", rules: [{}] })], from: ops, want: "allowed", by: ["shop/all"] },
  {
    name: "a DENY wins over an ALLOW",
    policies: [allowFromWeb, policy("deny-web", { action: "DENY", rules: [{ from: [{ source: { namespaces: ["shop"] } }] }] })],
    from: web, want: "denied", by: ["shop/deny-web"],
  },
  { name: "a mesh-wide DENY in the root namespace applies", policies: [policy("deny-ops", { action: "DENY", rules: [{ from: [{ source: { notNamespaces: ["shop"] } }] }] }, "istio-system")], from: ops, want: "denied", by: ["istio-system/deny-ops"] },
  { name: "notNamespaces keeps its own namespace out of the DENY", policies: [policy("deny-ops", { action: "DENY", rules: [{ from: [{ source: { notNamespaces: ["shop"] } }] }] }, "istio-system")], from: web, want: "allowed" },
  { name: "an ALLOW on paths depends on the request", policies: [policy("paths", { action: "ALLOW", rules: [{ from: [{ source: { principals: ["*/sa/web"] } }], to: [{ operation: { paths: ["/Hello"] } }] }] })], from: web, want: "conditional", by: ["shop/paths"] },
  { name: "a DENY on a header depends on the request", policies: [policy("hdr", { action: "DENY", rules: [{ when: [{ key: "request.headers[x-debug]", values: ["1"] }] }] })], from: web, want: "conditional", by: ["shop/hdr"] },
  { name: "ipBlocks match the caller's address (IPv6)", policies: [policy("ip", { action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["fd00::/64"] } }] }] })], from: web, want: "denied" },
  { name: "ipBlocks do not match another family", policies: [policy("ip", { action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/8"] } }] }] })], from: web, want: "allowed" },
  { name: "remoteIpBlocks match a direct caller's address", policies: [policy("rip", { action: "DENY", rules: [{ from: [{ source: { remoteIpBlocks: ["10.0.0.9"] } }] }] })], from: ops, want: "denied" },
  {
    name: "a quarantine's self policy (destination.ip) denies every call to the pod",
    policies: [policy("q-self", { action: "DENY", rules: [{ when: [{ key: "destination.ip", values: ["fd00::12"] }] }] })],
    from: web, to: cart, want: "denied", by: ["shop/q-self"],
  },
  { name: "destination.ip of another pod leaves the call alone", policies: [policy("q-self", { action: "DENY", rules: [{ when: [{ key: "destination.ip", values: ["fd00::99"] }] }] })], from: web, to: cart, want: "allowed" },
  { name: "a dry-run DENY decides nothing", policies: [policy("dry", { action: "DENY", rules: [{}] }, "shop", { "istio.io/dry-run": "true" })], from: web, want: "allowed" },
  { name: "a CUSTOM policy leaves the answer to its authorizer", policies: [policy("ext", { action: "CUSTOM", provider: { name: "opa" }, rules: [{}] })], from: web, want: "conditional", by: ["shop/ext"] },
  { name: "a request principal (JWT) is not known from config", policies: [policy("jwt", { action: "ALLOW", rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] })], from: web, want: "conditional" },
  { name: "serviceAccounts match namespace/name", policies: [policy("sa", { action: "ALLOW", rules: [{ from: [{ source: { serviceAccounts: ["shop/web"] } }] }] })], from: web, want: "allowed" },
  { name: "a policy with targetRefs does not apply to proxyless workloads", policies: [policy("gw", { action: "DENY", targetRefs: [{ kind: "Gateway", name: "gw" }], rules: [{}] })], from: web, want: "allowed" },
];

describe("console: who may call whom, decided as Envoy's RBAC would", () => {
  for (const c of cases) {
    it(c.name, () => {
      const v = decideCall(c.policies, "istio-system", c.from, c.to ?? cart, c.mtls ?? true);
      assert.equal(v.decision, c.want, JSON.stringify(v));
      if (c.by !== undefined) assert.deepEqual(v.by, c.by);
    });
  }
});
