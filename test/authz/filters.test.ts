// The filters a workload receives: selection, filter order, dry-run, CUSTOM providers, the
// proxyless gRPC flavour.
import assert from "node:assert/strict";
import type { JsonValue } from "@bufbuild/protobuf";
import { type AuthzInput, authzGrpcFilters, authzHttpFilters, authzNetworkFilters } from "../../src/authz/filters.js";
import { DEFAULT_AUTHZ_MESH_CONFIG, readExtensionProviders, type AuthzMeshConfig } from "../../src/authz/mesh-config.js";
import { serviceRegistryFromConfig } from "../../src/authz/services.js";
import { selectsWorkload } from "../../src/authz/select.js";
import type { AuthorizationPolicy } from "../../src/authz/policy.js";
import type { ConfigObject } from "../../src/model/config.js";
import { httpJson, networkJson, policy } from "./helpers.js";

type Rbac = { rules?: { action?: string; policies?: Record<string, unknown> }; shadowRules?: { action?: string; policies?: Record<string, unknown> }; shadowRulesStatPrefix?: string; statPrefix?: string };
const config = (f: JsonValue): Rbac => (f as { typedConfig: Rbac }).typedConfig;
const names = (fs: JsonValue[]): string[] => fs.map((f) => (f as { name: string }).name);
const policyNames = (r: Rbac["rules"]): string[] => Object.keys(r?.policies ?? {}).sort();

const workload = { namespace: "foo", labels: { app: "web", version: "v1" } };
function input(policies: AuthorizationPolicy[], extra: Partial<AuthzInput> = {}): AuthzInput {
  return { workload, policies, mesh: DEFAULT_AUTHZ_MESH_CONFIG, ...extra };
}

const extAuthzService: ConfigObject = {
  apiVersion: "networking.istio.io/v1", kind: "ServiceEntry",
  metadata: { name: "authz", namespace: "foo", labels: {}, annotations: {} },
  spec: { hosts: ["authz.foo.svc.cluster.local"] }, origin: { file: "services.yaml" },
};
function meshWith(providers: unknown[]): AuthzMeshConfig {
  const extensionProviders = readExtensionProviders(providers);
  assert.deepEqual(extensionProviders.flatMap((p) => p.problems), []);
  return { ...DEFAULT_AUTHZ_MESH_CONFIG, extensionProviders };
}
const grpcProvider = (name: string): unknown => ({ name, envoyExtAuthzGrpc: { service: "authz.foo.svc.cluster.local", port: 9000 } });
const httpProvider = (name: string): unknown => ({ name, envoyExtAuthzHttp: { service: "foo/authz.foo.svc.cluster.local", port: 8000 } });
const custom = (name: string, provider: string): AuthorizationPolicy =>
  policy({ action: "CUSTOM", provider: { name: provider }, rules: [{ to: [{ operation: { paths: ["/admin"] } }] }] }, { name });

describe("authz filters: selection", () => {
  it("root-namespace policies apply mesh-wide, namespace policies to their namespace only", () => {
    const ps = [
      policy({ rules: [{}] }, { name: "mesh", namespace: "istio-system" }),
      policy({ rules: [{}] }, { name: "ns", namespace: "foo" }),
      policy({ rules: [{}] }, { name: "elsewhere", namespace: "bar" }),
    ];
    const [allow] = httpJson(authzHttpFilters(input(ps)).filters);
    assert.deepEqual(policyNames(config(allow ?? null).rules), ["ns[foo]-policy[ns]-rule[0]", "ns[istio-system]-policy[mesh]-rule[0]"]);
  });

  it("the root namespace comes from MeshConfig", () => {
    const ps = [policy({ rules: [{}] }, { name: "mesh", namespace: "mesh-root" })];
    assert.equal(authzHttpFilters(input(ps)).filters.length, 0);
    assert.equal(authzHttpFilters(input(ps, { mesh: { ...DEFAULT_AUTHZ_MESH_CONFIG, rootNamespace: "mesh-root" } })).filters.length, 1);
  });

  it("selector.matchLabels must be a subset of the workload's labels", () => {
    const ps = [
      policy({ selector: { matchLabels: { app: "web" } }, rules: [{}] }, { name: "subset" }),
      policy({ selector: { matchLabels: { app: "web", version: "v2" } }, rules: [{}] }, { name: "other-version" }),
    ];
    const [allow] = httpJson(authzHttpFilters(input(ps)).filters);
    assert.deepEqual(policyNames(config(allow ?? null).rules), ["ns[foo]-policy[subset]-rule[0]"]);
  });

  it("policies with targetRef(s) do not apply to sidecars", () => {
    const ps = [policy({ targetRefs: [{ kind: "Service", group: "", name: "web" }], rules: [{}] })];
    assert.deepEqual(authzHttpFilters(input(ps)).filters, []);
  });

  it("selectsWorkload tells which workloads a policy change touches", () => {
    const mesh = policy({ selector: { matchLabels: { app: "web" } }, rules: [{}] }, { namespace: "istio-system" });
    const local = policy({ rules: [{}] }, { namespace: "bar" });
    assert.equal(selectsWorkload(mesh, workload, "istio-system"), true);
    assert.equal(selectsWorkload(mesh, { namespace: "foo", labels: { app: "api" } }, "istio-system"), false);
    assert.equal(selectsWorkload(local, workload, "istio-system"), false);
    assert.equal(selectsWorkload(local, { namespace: "bar", labels: {} }, "istio-system"), true);
  });

  it("no policy, no filter", () => {
    assert.deepEqual(authzHttpFilters(input([])).filters, []);
    assert.deepEqual(authzNetworkFilters(input([])).filters, []);
  });
});

describe("authz filters: order and actions", () => {
  const all = (): AuthorizationPolicy[] => [
    policy({ rules: [{}] }, { name: "allow" }),
    policy({ action: "DENY", rules: [{ to: [{ operation: { ports: ["1"] } }] }] }, { name: "deny" }),
    policy({ action: "AUDIT", rules: [{}] }, { name: "audit" }),
    custom("custom", "ext"),
  ];
  const extras = { mesh: meshWith([grpcProvider("ext")]), services: serviceRegistryFromConfig([extAuthzService]) };

  it("HTTP: CUSTOM (RBAC + ext_authz), then AUDIT (LOG), DENY, ALLOW", () => {
    const fs = httpJson(authzHttpFilters(input(all(), extras)).filters);
    assert.deepEqual(names(fs), ["envoy.filters.http.rbac", "envoy.filters.http.ext_authz", "envoy.filters.http.rbac", "envoy.filters.http.rbac", "envoy.filters.http.rbac"]);
    assert.deepEqual(fs.slice(2).map((f) => config(f).rules?.action), ["LOG", "DENY", undefined]);
  });

  it("TCP: the same order with network filters and the tcp. stat prefix", () => {
    const fs = networkJson(authzNetworkFilters(input(all(), extras)).filters);
    assert.deepEqual(names(fs), ["envoy.filters.network.rbac", "envoy.filters.network.ext_authz", "envoy.filters.network.rbac", "envoy.filters.network.rbac", "envoy.filters.network.rbac"]);
    for (const f of fs) assert.equal(config(f).statPrefix, "tcp.");
  });

  it("an ALLOW policy without rules allows nothing; with an empty rule it allows everything", () => {
    const [none] = httpJson(authzHttpFilters(input([policy({})])).filters);
    assert.deepEqual(config(none ?? null).rules?.policies?.["ns[foo]-policy[p]-rule[0]"], { permissions: [{ notRule: { any: true } }], principals: [{ notId: { any: true } }] });
    const [everything] = httpJson(authzHttpFilters(input([policy({ rules: [{}] })])).filters);
    assert.deepEqual(config(everything ?? null).rules?.policies?.["ns[foo]-policy[p]-rule[0]"], { permissions: [{ andRules: { rules: [{ any: true }] } }], principals: [{ andIds: { ids: [{ any: true }] } }] });
  });

  it("an ALLOW whose rules are all HTTP-only keeps an empty ALLOW on TCP: deny all", () => {
    const [f] = networkJson(authzNetworkFilters(input([policy({ rules: [{ to: [{ operation: { methods: ["GET"] } }] }] })])).filters);
    assert.deepEqual(config(f ?? null).rules, {});
  });
});

describe("authz filters: dry run", () => {
  const dry = { annotations: { "istio.io/dry-run": "true" } };

  it("a dry-run ALLOW goes to shadow rules only, stat prefix istio_dry_run_allow_", () => {
    const [f] = httpJson(authzHttpFilters(input([policy({ rules: [{}] }, dry)])).filters);
    const c = config(f ?? null);
    assert.equal(c.rules, undefined);
    assert.deepEqual(policyNames(c.shadowRules), ["ns[foo]-policy[p]-rule[0]"]);
    assert.equal(c.shadowRulesStatPrefix, "istio_dry_run_allow_");
  });

  it("a dry-run DENY beside an enforced DENY: both kinds of rules, stat prefix istio_dry_run_deny_", () => {
    const ps = [policy({ action: "DENY", rules: [{}] }, { ...dry, name: "trial" }), policy({ action: "DENY", rules: [{}] }, { name: "real" })];
    const [f] = httpJson(authzHttpFilters(input(ps)).filters);
    const c = config(f ?? null);
    assert.deepEqual(policyNames(c.rules), ["ns[foo]-policy[real]-rule[0]"]);
    assert.deepEqual(policyNames(c.shadowRules), ["ns[foo]-policy[trial]-rule[0]"]);
    assert.equal(c.shadowRules?.action, "DENY");
    assert.equal(c.shadowRulesStatPrefix, "istio_dry_run_deny_");
  });
});

describe("authz filters: CUSTOM", () => {
  it("an unknown provider denies what its policies match, and says why", () => {
    const out = authzHttpFilters(input([custom("c", "missing")], { mesh: meshWith([grpcProvider("ext")]), services: serviceRegistryFromConfig([extAuthzService]) }));
    const fs = httpJson(out.filters);
    assert.deepEqual(names(fs), ["envoy.filters.http.rbac"]);
    assert.equal(config(fs[0] ?? null).rules?.action, "DENY");
    assert.deepEqual(policyNames(config(fs[0] ?? null).rules), ["istio-ext-authz-missing-ns[foo]-policy[c]-rule[0]-deny-due-to-bad-CUSTOM-action"]);
    assert.match(out.problems[0]?.message ?? "", /available providers are \[ext\] but found "missing"/);
  });

  it("a provider whose service is unknown denies too", () => {
    const out = authzHttpFilters(input([custom("c", "ext")], { mesh: meshWith([grpcProvider("ext")]) }));
    assert.equal(config(httpJson(out.filters)[0] ?? null).rules?.action, "DENY");
    assert.match(out.problems[0]?.message ?? "", /could not find service authz.foo.svc.cluster.local/);
  });

  it("a malformed or invalid provider denies, naming what is wrong", () => {
    const services = serviceRegistryFromConfig([extAuthzService]);
    const cases: [unknown, RegExp][] = [
      [{ name: "ext", envoyExtAuthzGrpc: { service: "authz.foo.svc.cluster.local", port: 9000, statusOnError: "999" } }, /unsupported statusOnError 999/],
      [{ name: "ext", envoyExtAuthzGrpc: { service: "authz.foo.svc.cluster.local", port: 0 } }, /port must be in the range \[1, 65535\]/],
      [{ name: "ext", envoyExtAuthzGrpc: { service: "authz.foo.svc.cluster.local", port: 9000, timeout: "10 seconds" } }, /timeout: must be a duration/],
      [{ name: "ext", envoyExtAuthzHttp: { service: "authz.foo.svc.cluster.local", port: 9000, headersToUpstreamOnAllow: ["*"] } }, /single wildcard/],
      [{ name: "ext", envoyExtAuthzHttp: { service: "authz.foo.svc.cluster.local", port: 9000, pathPrefix: "check" } }, /pathPrefix must begin with `\/`/],
    ];
    for (const [provider, why] of cases) {
      const out = authzHttpFilters(input([custom("c", "ext")], { mesh: { ...DEFAULT_AUTHZ_MESH_CONFIG, extensionProviders: readExtensionProviders([provider]) }, services }));
      assert.deepEqual(httpJson(out.filters).map((f) => config(f).rules?.action), ["DENY"], JSON.stringify(provider));
      assert.match(out.problems[0]?.message ?? "", why);
    }
  });

  it("an HTTP provider does nothing on TCP chains", () => {
    const extras = { mesh: meshWith([httpProvider("web")]), services: serviceRegistryFromConfig([extAuthzService]) };
    assert.equal(authzHttpFilters(input([custom("c", "web")], extras)).filters.length, 2);
    assert.deepEqual(authzNetworkFilters(input([custom("c", "web")], extras)).filters, []);
  });

  it("two providers deny unless multiple providers are enabled, then one pair each", () => {
    const extras = { mesh: meshWith([grpcProvider("a"), grpcProvider("b")]), services: serviceRegistryFromConfig([extAuthzService]) };
    const ps = [custom("one", "b"), custom("two", "a")];
    const off = authzHttpFilters(input(ps, extras));
    assert.deepEqual(httpJson(off.filters).map((f) => config(f).rules?.action), ["DENY", "DENY"]);
    assert.match(off.problems[0]?.message ?? "", /PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS/);
    const on = httpJson(authzHttpFilters(input(ps, { ...extras, multipleCustomProviders: true })).filters);
    assert.deepEqual(names(on), ["envoy.filters.http.rbac", "envoy.filters.http.ext_authz", "envoy.filters.http.rbac", "envoy.filters.http.ext_authz"]);
    assert.deepEqual(policyNames(config(on[0] ?? null).shadowRules), ["istio-ext-authz-a-ns[foo]-policy[two]-rule[0]"]);
    const enabled = (on[3] as { typedConfig: { filterEnabledMetadata: { value: { stringMatch: { prefix: string } } } } }).typedConfig.filterEnabledMetadata;
    assert.equal(enabled.value.stringMatch.prefix, "istio-ext-authz-b");
  });

  it("HTTP provider config: deprecated includeHeadersInCheck as fallback, timeout and clearRouteCache passed on", () => {
    const provider = { name: "web", envoyExtAuthzHttp: { service: "authz.foo.svc.cluster.local", port: 8000, timeout: "1.5s", clearRouteCache: true, includeHeadersInCheck: ["x-user"] } };
    const extras = { mesh: meshWith([provider]), services: serviceRegistryFromConfig([extAuthzService]) };
    const [, ext] = httpJson(authzHttpFilters(input([custom("c", "web")], extras)).filters);
    const c = (ext as { typedConfig: Record<string, unknown> }).typedConfig;
    assert.deepEqual(c["allowedHeaders"], { patterns: [{ exact: "x-user", ignoreCase: true }] });
    assert.equal(c["clearRouteCache"], true);
    assert.deepEqual(c["httpService"], { serverUri: { uri: "http://authz.foo.svc.cluster.local", cluster: "outbound|8000||authz.foo.svc.cluster.local", timeout: "1.500s" } });
    assert.equal(c["statusOnError"], undefined);
    assert.equal(c["failureModeAllow"], undefined, "fail closed unless failOpen");
  });

  it("provider config: timeout default 600s, gRPC authority is the host name", () => {
    const fs = httpJson(authzHttpFilters(input([custom("c", "ext")], { mesh: meshWith([grpcProvider("ext")]), services: serviceRegistryFromConfig([extAuthzService]) })).filters);
    const ext = (fs[1] as { typedConfig: { grpcService: { timeout: string; envoyGrpc: { authority: string; clusterName: string } } } }).typedConfig;
    assert.equal(ext.grpcService.timeout, "600s");
    assert.deepEqual(ext.grpcService.envoyGrpc, { authority: "authz.foo.svc.cluster.local", clusterName: "outbound|9000||authz.foo.svc.cluster.local" });
  });
});

describe("authz filters: proxyless gRPC", () => {
  it("a DENY filter then an ALLOW filter, rules named <ns>-<name>-<i>", () => {
    const ps = [policy({ rules: [{ to: [{ operation: { paths: ["/svc/Get"] } }] }] }, { name: "allow" }), policy({ action: "DENY", rules: [{}, {}] }, { name: "deny" })];
    const fs = httpJson(authzGrpcFilters(input(ps)).filters);
    assert.deepEqual(names(fs), ["envoy.filters.http.rbac.DENY", "envoy.filters.http.rbac"]);
    assert.deepEqual(policyNames(config(fs[0] ?? null).rules), ["foo-deny-0", "foo-deny-1"]);
    assert.equal(config(fs[0] ?? null).rules?.action, "DENY");
    assert.deepEqual(policyNames(config(fs[1] ?? null).rules), ["foo-allow-0"]);
    assert.equal(config(fs[1] ?? null).shadowRulesStatPrefix, undefined);
  });

  it("AUDIT, CUSTOM and dry-run policies are left out, with a warning each", () => {
    const ps = [policy({ action: "AUDIT", rules: [{}] }, { name: "a" }), policy({ rules: [{}] }, { name: "d", annotations: { "istio.io/dry-run": "true" } })];
    const out = authzGrpcFilters(input(ps));
    assert.deepEqual(out.filters, []);
    assert.equal(out.problems.filter((p) => p.severity === "warning").length, 2);
  });

  it("an ALLOW policy without rules still allows nothing", () => {
    const [f] = httpJson(authzGrpcFilters(input([policy({}, { name: "none" })])).filters);
    assert.deepEqual(config(f ?? null).rules?.policies, { "foo-none-0": { permissions: [{ notRule: { any: true } }], principals: [{ notId: { any: true } }] } });
  });
});
