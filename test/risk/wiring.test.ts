// The risk stage as `meshward serve` wires it: the agent's protobuf mapped onto the engine's signal
// and kept verbatim in the audit database, RuntimePolicy as a model kind that touches no proxy,
// and the CA refusing certificates to a quarantined pod (not to its healthy replica).
import { strict as assert } from "node:assert";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { create, toJson } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Severity, SignalSchema } from "../../src/gen/meshward/agent/v1/signals_pb.js";
import { IssuanceError } from "../../src/ca/authority.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import type { ControlPlane } from "../../src/mesh/control-plane.js";
import { startTestControlPlane } from "../support/control-plane.js";
import { snapshotChange } from "../../src/model/changes.js";
import { buildSnapshot } from "../../src/mesh/model.js";
import { AuditSignalRecorder, runtimeSignalOf } from "../../src/risk/agent-signals.js";
import { peerIp } from "../../src/risk/proxy-pods.js";
import { RiskService } from "../../src/risk/risk-service.js";
import { compileRuntimePolicies } from "../../src/risk/runtime-policy.js";
import { PRESET_RULES } from "../../src/agent/detections/presets.js";
import { signalProblem } from "../../src/risk/signal.js";
import { TypeUrl } from "../../src/xds/types.js";
import { AdsClient } from "../support/ads-client.js";
import { eventually } from "../support/eventually.js";
import { configObjects, ESCAPE_QUARANTINE_POLICY, podA, podB, signal } from "./fixtures.js";

const agentSignal = (id: string, severity = Severity.HIGH) =>
  create(SignalSchema, {
    id,
    node: "node-1",
    pod: { uid: podA.uid, namespace: podA.namespace, name: podA.name, serviceAccount: podA.serviceAccount, labels: { ...podA.labels } },
    container: { id: "c0ffee".padEnd(64, "0"), name: "app" },
    process: { pid: 7, uid: 0, binary: "/usr/bin/nsenter", args: ["nsenter", "--mount=/proc/1/ns/mnt"], execId: "node-1:1:7", ancestors: ["sh"] },
    detection: { id: "escape.setns-host-mnt", mitreTechnique: "T1611", description: "setns", ruleSource: "preset" },
    severity,
    evidence: { namespaces: "mnt" },
    eventTime: { ...timestampFromMs(1_800_000_000_123), nanos: 123_456_789 },
  });

describe("risk wiring: agent signals", () => {
  let dir: string;
  let risk: RiskService;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "meshward-wiring-"));
    risk = new RiskService({ dataDir: dir });
    risk.setPolicies(configObjects(ESCAPE_QUARANTINE_POLICY));
  });
  afterEach(() => {
    risk.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("maps the agent's protobuf onto the engine's signal, with the pod IP from the directory", () => {
    const s = runtimeSignalOf(agentSignal("a1", Severity.INFO), { ip: podA.ip, node: "node-1" }, 42);
    assert.equal(s.detection.severity, "low", "the agent's INFO is the engine's lowest severity");
    assert.equal(s.eventTimeNs, 1_800_000_000n * 1_000_000_000n + 123_456_789n);
    assert.equal(s.pod.ip, podA.ip);
    assert.equal(s.detection.technique, "T1611");
    assert.equal(runtimeSignalOf(agentSignal("a2"), undefined, 42).pod.ip, "", "unknown pod: no IP to enforce on");
    assert.match(signalProblem(runtimeSignalOf(agentSignal("a3", Severity.UNSPECIFIED), { ip: podA.ip }, 42)) ?? "", /severity/, "no severity is not guessed");
  });

  it("enforces through the risk service and returns what the agent sent from the audit database", () => {
    const rec = new AuditSignalRecorder(risk, { locate: () => ({ ip: podA.ip, node: "node-1" }), podsOfIdentity: () => [] }, { nowMs: () => 1_800_000_000_500 });
    const sent = agentSignal("b1");
    assert.deepEqual(rec.add([sent]).map((s) => s.id), ["b1"]);
    assert.deepEqual(rec.add([sent]), [], "a redelivery is not new");
    assert.equal(risk.enforcement.active().length, 1, "quarantined");
    assert.equal(risk.enforcement.active()[0]!.pod.ip, podA.ip);
    const [stored] = rec.query({ podUid: podA.uid });
    assert.deepEqual(toJson(SignalSchema, stored!.signal!), toJson(SignalSchema, sent), "evidence, exec ids and ancestors survive");
    assert.equal(rec.problem(agentSignal("b2", Severity.UNSPECIFIED))?.includes("severity"), true, "rejected for good, not retried");
    assert.equal(rec.problem(sent), undefined);
  });

  it("records a detection outside any pod without enforcing", () => {
    const rec = new AuditSignalRecorder(risk, { locate: () => undefined, podsOfIdentity: () => [] }, { nowMs: () => 1 });
    const host = create(SignalSchema, { ...agentSignal("c1"), pod: undefined });
    assert.deepEqual(rec.add([host]).map((s) => s.id), ["c1"]);
    assert.equal(risk.enforcement.active().length, 0);
    assert.equal(risk.audit.query.signals({}).length, 1);
  });

  it("reads the IP out of gRPC peer strings, IPv4-mapped ones as IPv4", () => {
    assert.equal(peerIp("10.1.0.11:5000"), "10.1.0.11");
    assert.equal(peerIp("ipv4:10.1.0.11:5000"), "10.1.0.11");
    assert.equal(peerIp("[::ffff:10.1.0.11]:5000"), "10.1.0.11");
    assert.equal(peerIp("[fd00::11]:5000"), "fd00::11");
    assert.equal(peerIp("unix:/tmp/sock"), undefined);
  });
});

describe("risk wiring: RuntimePolicy in the model", () => {
  it("a RuntimePolicy change touches no proxy; a bad one is rejected with its field path", () => {
    const base = buildSnapshot({ objects: [], errors: [] });
    const withPolicy = buildSnapshot({ objects: configObjects(ESCAPE_QUARANTINE_POLICY), errors: [] }, base);
    assert.equal(withPolicy.others.get("RuntimePolicy")?.length, 1);
    assert.equal(snapshotChange(base, withPolicy), undefined, "no proxy's resources depend on it");
    const bad = buildSnapshot({ objects: configObjects(ESCAPE_QUARANTINE_POLICY.replace("QUARANTINE", "QUARANTEEN")), errors: [] }, withPolicy);
    const err = bad.errors.find((e) => e.object === "RuntimePolicy istio-system/escapes" && e.severity === "error" && e.path !== "");
    assert.equal(err?.path, "spec.rules[0].action");
    assert.equal(bad.others.get("RuntimePolicy")?.length, 1, "its last good version is kept");
  });
});

describe("risk wiring: the documented RuntimePolicy speaks the agent's detection ids", () => {
  it("every detection pattern in examples/runtime-policy matches one of the agent's presets", () => {
    const text = readFileSync(new URL("../../../examples/runtime-policy/runtime-policy.yaml", import.meta.url), "utf8");
    const presets = PRESET_RULES.map((r) => r.id);
    const patterns = compileRuntimePolicies(configObjects(text)).policies.flatMap((p) => p.rules.flatMap((r) => r.trigger.detections ?? []));
    assert.ok(patterns.length >= 4);
    for (const pat of patterns) {
      const hit = presets.some((id) => (pat.endsWith("*") ? id.startsWith(pat.slice(0, -1)) : id === pat));
      assert.ok(hit, `${pat} matches no agent preset (${presets.join(", ")})`);
    }
  });
});

describe("risk wiring: serve's CA withholds certificates from a quarantined pod", function () {
  this.timeout(30_000);
  let dir: string;
  let cp: ControlPlane;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "meshward-wiring-ca-"));
    writeFileSync(join(dir, "mesh.yaml"), "trustDomain: cluster.local\nrootNamespace: istio-system\n");
    writeFileSync(join(dir, "policy.yaml"), ESCAPE_QUARANTINE_POLICY);
    cp = await startTestControlPlane(dir, { dataDir: join(dir, "data"), debounceMs: undefined });
  });
  after(async () => {
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses the pod's IP, issues to its replica (same service account)", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const identity = { trustDomain: "cluster.local", namespace: podA.namespace, serviceAccount: podA.serviceAccount };
    const issue = (ip: string) => cp.ca.issue({ identity, csrPem: createCsr(privateKey, publicKey), caller: { peer: `${ip}:40000`, metadata: new Metadata() } });
    assert.ok((await issue(podA.ip)).certChain.length > 0, "before the quarantine");
    cp.risk.risk.handleSignal(signal({ pod: podA }));
    await assert.rejects(issue(podA.ip), (e: unknown) => e instanceof IssuanceError && e.code === "permission-denied" && /quarantine/.test(e.message));
    assert.ok((await issue(podB.ip)).certChain.length > 0, "the healthy replica still gets one");
    const metrics = await (await fetch(`http://${cp.monitoringAddress}/metrics`)).text();
    assert.match(metrics, /^meshward_enforcements_active\{action="quarantine"\} 1$/m);
  });

  it("a REVOKE changes no proxy: its chain ends at translation, with no proxy to wait for", async () => {
    writeFileSync(join(dir, "policy.yaml"), ESCAPE_QUARANTINE_POLICY.replace("action: QUARANTINE, duration: 1h", "action: REVOKE").replace("escape.*", "revoke.*"));
    await eventually("the REVOKE policy to be served", () =>
      (cp.provider.snapshot.others.get("RuntimePolicy") ?? []).some((a) => JSON.stringify(a.spec).includes("REVOKE")) ? true : undefined);
    const s = signal({ pod: { ...podA, uid: "revoked-uid", name: "revoked", ip: "10.1.0.66" }, detection: "revoke.me" });
    cp.risk.risk.handleSignal(s);
    const chain = cp.risk.risk.audit.query.chain(s.id);
    assert.equal(typeof chain?.translatedUs, "number");
    assert.equal(chain?.proxies, 0);
  });

  it("an identity-scoped quarantine takes in the IP of a pod of that identity that connects later", async () => {
    writeFileSync(join(dir, "policy.yaml"), ESCAPE_QUARANTINE_POLICY.replace("action: QUARANTINE", "action: QUARANTINE, scope: IDENTITY").replace("escape.*", "identity.*"));
    await eventually("the identity-scoped policy to be served", () =>
      (cp.provider.snapshot.others.get("RuntimePolicy") ?? []).some((a) => JSON.stringify(a.spec).includes("IDENTITY")) ? true : undefined);
    const other = { ...podA, uid: "other-uid", name: "other-pod", ip: "10.1.0.99" };
    cp.risk.risk.handleSignal(signal({ pod: other, detection: "identity.escape" }));
    const peersIps = (): string[] =>
      (cp.provider.snapshot.others.get("AuthorizationPolicy") ?? [])
        .filter((a) => a.object.metadata.name.endsWith("-peers") && a.object.metadata.annotations["meshward.io/enforcement"]?.startsWith("q-"))
        .flatMap((a) => JSON.stringify(a.spec).match(/10\.1\.0\.\d+/g) ?? []);
    assert.ok(!peersIps().includes("10.1.0.77"));
    const ads = new AdsClient(cp.xdsAddress);
    const stream = ads.sotw({ id: `sidecar~10.1.0.77~late-pod.${podA.namespace}~${podA.namespace}.svc.cluster.local`, metadata: { NAMESPACE: podA.namespace, SERVICE_ACCOUNT: podA.serviceAccount } });
    try {
      stream.subscribe(TypeUrl.Listener, []);
      await eventually("the late pod's IP in the peers DENY", () => (peersIps().includes("10.1.0.77") ? true : undefined));
    } finally {
      stream.close();
      ads.close();
    }
  });
});
