// Property-based fuzzing of the xDS request handling (issue 15 item 9): arbitrary sequences of
// DiscoveryRequests / DeltaDiscoveryRequests (any type URL, names, nonces, versions, NACKs,
// missing or odd nodes, undecodable bytes) and config changes, sent by a raw client through the
// real server. The server must never crash or end a stream with an internal error, and every
// response must stay inside the protocol: a served type the stream asked for, a fresh nonce, no
// name twice, only names the stream subscribed to, and no answer to a stale-nonce request.
// After each step a probe subscription (SDS, a new name) is answered; responses keep request
// order, so everything before the probe's answer belongs to that step.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { TypeUrl } from "../../src/xds/types.js";
import type { DeltaDiscoveryResponse, DiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { applyChange, seed, standardProvider, startXds, type Harness } from "../support/xds-harness.js";
import type { MemoryProvider } from "../support/memory-provider.js";
import { AdsClient, resourceName, sidecarNode, type DeltaClientStream, type SotwClientStream } from "../support/ads-client.js";
import { fuzzParameters } from "./settings.js";

const { Cluster: CDS, ClusterLoadAssignment: EDS, Listener: LDS, RouteConfiguration: RDS, Secret: SDS } = TypeUrl;
/** Types the fuzzer requests; SDS is kept for the probes. */
const FUZZ_TYPES: readonly string[] = [LDS, CDS, EDS, RDS];
const ODD_TYPES: readonly string[] = ["", "type.googleapis.com/envoy.config.listener.v3.Nope", "not a type"];
const NAMES = ["l1", "l2", "c1", "c2", "r1", "r2", "*", "missing", "", "a/b", "ß"];
const PROBE_COUNT = 400;
const MAX_STEPS = 14;

type Nonce = "none" | "latest" | "older" | "bogus";
type Change = { kind: "change"; type: TypeUrl; name: string; remove: boolean; variant: string };
type Raw = { kind: "raw"; bytes: Uint8Array };
type NodeChoice = "auto" | "omit" | "odd";
type SotwStep = { kind: "request"; type: string; names: string[]; nonce: Nonce; version: Nonce; nack: boolean; node: NodeChoice } | Change | Raw;
type DeltaStep =
  | { kind: "request"; type: string; subscribe: string[]; unsubscribe: string[]; nonce: Nonce; initial: Record<string, string>; nack: boolean; node: NodeChoice }
  | Change
  | Raw;

// Odd types, undecodable bytes and missing nodes end or stall a stream: rare, so sequences get deep.
const typeArb = fc.oneof({ weight: 40, arbitrary: fc.constantFrom(...FUZZ_TYPES) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_TYPES) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
const namesArb = fc.array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...NAMES) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }), { maxLength: 5 });
const nonceArb: fc.Arbitrary<Nonce> = fc.constantFrom("none", "latest", "latest", "latest", "latest", "older", "bogus");
const nodeArb: fc.Arbitrary<NodeChoice> = fc.oneof({ weight: 40, arbitrary: fc.constant("auto" as const) }, { weight: 1, arbitrary: fc.constantFrom("omit" as const, "odd" as const) });
const changeArb: fc.Arbitrary<Change> = fc.record({
  kind: fc.constant("change" as const),
  type: fc.constantFrom(LDS, CDS, EDS, RDS),
  name: fc.constantFrom("l1", "l3", "c1", "c3", "r1", "r3"),
  remove: fc.boolean(),
  variant: fc.constantFrom("", "v", "vv", "vvv"),
});
const rawArb: fc.Arbitrary<Raw> = fc.record({ kind: fc.constant("raw" as const), bytes: fc.uint8Array({ maxLength: 40 }) });

const sotwSteps: fc.Arbitrary<SotwStep[]> = fc.array(
  fc.oneof(
    { weight: 30, arbitrary: fc.record({ kind: fc.constant("request" as const), type: typeArb, names: namesArb, nonce: nonceArb, version: nonceArb, nack: fc.boolean(), node: nodeArb }) },
    { weight: 6, arbitrary: changeArb },
    { weight: 1, arbitrary: rawArb },
  ),
  { minLength: 1, maxLength: MAX_STEPS },
);
const deltaSteps: fc.Arbitrary<DeltaStep[]> = fc.array(
  fc.oneof(
    {
      weight: 30,
      arbitrary: fc.record({
        kind: fc.constant("request" as const),
        type: typeArb,
        subscribe: namesArb,
        unsubscribe: namesArb,
        nonce: nonceArb,
        initial: fc.dictionary(fc.constantFrom(...NAMES), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
        nack: fc.boolean(),
        node: nodeArb,
      }),
    },
    { weight: 6, arbitrary: changeArb },
    { weight: 1, arbitrary: rawArb },
  ),
  { minLength: 1, maxLength: MAX_STEPS },
);

/** Statuses a stream may end with; an internal error is only grpc-js refusing undecodable bytes. */
function assertAllowedStatus(s: grpc.StatusObject): void {
  const allowed = [grpc.status.OK, grpc.status.CANCELLED, grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED];
  if (allowed.includes(s.code)) return;
  assert.ok(s.code === grpc.status.INTERNAL && /deserializ/i.test(s.details), `stream ended with ${grpc.status[s.code]}: ${s.details}`);
}

/** What the client knows per type, to pick nonces and check responses. */
class TypeTrack {
  readonly nonces: string[] = [];
  readonly subscribed = new Set<string>();
  wildcard = false;
  get latest(): string | undefined {
    return this.nonces[this.nonces.length - 1];
  }
  pick(n: Nonce, bogus: string): string {
    if (n === "none") return "";
    if (n === "latest") return this.latest ?? "";
    if (n === "older") return this.nonces[0] ?? "";
    return bogus;
  }
  /** Whether a request with this nonce is stale for the server (it has answered this type before). */
  isStale(nonce: string): boolean {
    return nonce !== "" && this.latest !== undefined && nonce !== this.latest;
  }
}

class Tracks {
  private readonly byType = new Map<string, TypeTrack>();
  readonly allNonces = new Set<string>();
  get(t: string): TypeTrack {
    let x = this.byType.get(t);
    if (x === undefined) {
      x = new TypeTrack();
      this.byType.set(t, x);
    }
    return x;
  }
  has(t: string): boolean {
    return this.byType.has(t);
  }
  /** Common checks: a type this stream asked for, a fresh non-empty nonce. */
  accept(typeUrl: string, nonce: string): TypeTrack {
    assert.ok(this.has(typeUrl), `a ${typeUrl} response the stream never asked for`);
    assert.notEqual(nonce, "", "a response without a nonce");
    assert.ok(!this.allNonces.has(nonce), `nonce ${nonce} used twice on one stream`);
    this.allNonces.add(nonce);
    const t = this.get(typeUrl);
    t.nonces.push(nonce);
    return t;
  }
}

function applyProviderChange(provider: MemoryProvider, c: Change): void {
  if (c.remove) provider.remove(c.type, c.name, false);
  else seed(provider, c.type, [c.name], c.variant);
}

describe("fuzz: xDS request handling through the real server", function () {
  this.timeout(180_000);
  let provider: MemoryProvider;
  let h: Harness;
  let client: AdsClient;
  let run = 0;
  const probes = Array.from({ length: PROBE_COUNT }, (_, i) => `fz-${i}`);

  before(async () => {
    provider = standardProvider();
    seed(provider, SDS, probes);
    h = await startXds(provider);
    client = new AdsClient(h.address);
  });
  after(async () => {
    client.close();
    await h.stop();
  });

  /** A fresh stream still gets a full answer: the server survived. */
  async function serverStillServes(): Promise<void> {
    const s = client.sotw(sidecarNode("after-fuzz", "default"));
    s.subscribe(CDS, []);
    const r = await s.next();
    assert.equal(r.typeUrl, CDS);
    assert.ok(r.resources.length > 0);
    s.close();
  }

  /**
   * Runs every generated sequence on a stream of its own connection: Node's HTTP/2 server closes a
   * session after hundreds of stream resets (its rapid-reset defence), which would end later
   * sequences for the wrong reason. Afterwards the server must still serve.
   */
  async function fuzzStreams<Step, S extends { cancel(): void }>(
    steps: fc.Arbitrary<Step[]>, open: (conn: AdsClient, run: number) => S, runSteps: (s: S, steps: Step[]) => Promise<void>,
  ): Promise<void> {
    await fc.assert(
      fc.asyncProperty(steps, async (generated) => {
        const conn = new AdsClient(h.address);
        const s = open(conn, ++run);
        try {
          await runSteps(s, generated);
        } finally {
          s.cancel();
          conn.close();
        }
      }),
      fuzzParameters(120, 30),
    );
    await serverStillServes();
  }

  it("SotW: arbitrary request sequences never crash the server and are answered only inside the protocol", async () => {
    await fuzzStreams(sotwSteps, (conn, n) => conn.sotw(sidecarNode(`sotw-${n}`, "default", `10.1.${n % 250}.1`)), runSotw);
  });

  it("delta: arbitrary request sequences never crash the server and are answered only inside the protocol", async () => {
    await fuzzStreams(deltaSteps, (conn, n) => conn.delta(sidecarNode(`delta-${n}`, "default", `10.2.${n % 250}.1`)), runDelta);
  });

  /** What the step loop needs from one protocol: how to send, and what a response holds. */
  interface Protocol<Req, Res> {
    readonly stream: { status: Promise<grpc.StatusObject>; sendRaw(b: Uint8Array): void; next(ms: number): Promise<Res> };
    /** Sends a request step (recording what it subscribes in `t`); `withNode` on the stream's first request. */
    request(step: Req, t: TypeTrack, nonce: string, withNode: boolean): void;
    /** Subscribes the SDS probe `probe`, the stream's `count`th. */
    probe(probe: string, count: number, nonce: string, withNode: boolean): void;
    /** Checks a response's own shape; returns its type, nonce, the names it sends and removes. */
    inspect(r: Res): { typeUrl: string; nonce: string; sent: string[]; removed: string[] };
    /** After the probe's answer (delta ACKs it). */
    probed(r: Res): void;
  }

  async function runSteps<Req extends { kind: "request"; type: string; nonce: Nonce; node: NodeChoice }, Res>(
    steps: readonly (Req | Change | Raw)[], proto: Protocol<Req, Res>,
  ): Promise<void> {
    const tracks = new Tracks();
    const probeTrack = tracks.get(SDS);
    let first = true;
    for (const [i, step] of steps.entries()) {
      let staleType: string | undefined;
      if (step.kind === "change") await applyChange(h, provider, () => applyProviderChange(provider, step));
      else if (step.kind === "raw") proto.stream.sendRaw(step.bytes);
      else {
        const t = tracks.get(step.type);
        const nonce = t.pick(step.nonce, "bogus-nonce");
        if (t.isStale(nonce)) staleType = step.type;
        proto.request(step, t, nonce, first && step.node !== "omit");
        first = false;
      }
      // The probe: a new SDS name is always answered, after everything this step caused.
      const probe = probes[i]!;
      proto.probe(probe, i + 1, probeTrack.latest ?? "", first);
      first = false;
      for (;;) {
        let r: Res;
        try {
          r = await proto.stream.next(5000);
        } catch (e) {
          // The stream ended: only with an allowed status, and then the sequence is over.
          if (!(e instanceof Error) || !e.message.startsWith("stream ended")) throw e;
          assertAllowedStatus(await proto.stream.status);
          return;
        }
        const { typeUrl, nonce, sent, removed } = proto.inspect(r);
        const t = tracks.accept(typeUrl, nonce);
        assert.equal(new Set(sent).size, sent.length, `a name twice in one response: ${sent.join(",")}`);
        for (const n of removed) assert.ok(!sent.includes(n), `${n} both sent and removed`);
        if (typeUrl === SDS && sent.includes(probe)) {
          proto.probed(r);
          break;
        }
        assert.notEqual(typeUrl, staleType, "a response to a stale-nonce request");
        if (!t.wildcard) for (const n of [...sent, ...removed]) assert.ok(t.subscribed.has(n), `${n} was sent but never subscribed`);
      }
    }
  }

  const nackOf = (nack: boolean) => (nack ? { errorDetail: { code: 3, message: "fuzz NACK" } } : {});
  const oddNode = (first: boolean, node: NodeChoice) => (first && node === "odd" ? { node: { id: "odd~node", metadata: {} } } : {});

  function runSotw(s: SotwClientStream, steps: SotwStep[]): Promise<void> {
    return runSteps(steps, {
      stream: s,
      request: (step, t, nonce, withNode) => {
        for (const n of step.names) t.subscribed.add(n);
        if (step.names.length === 0 || step.names.includes("*")) t.wildcard = true;
        const versionInfo = step.version === "bogus" ? "v-bogus" : "";
        s.send({ typeUrl: step.type, resourceNames: step.names, versionInfo, responseNonce: nonce, ...nackOf(step.nack), ...oddNode(withNode, step.node) }, withNode);
      },
      probe: (_probe, count, nonce, withNode) => s.send({ typeUrl: SDS, resourceNames: probes.slice(0, count), responseNonce: nonce }, withNode),
      inspect: (r: DiscoveryResponse) => {
        assert.notEqual(r.versionInfo, "", "a SotW response without a version");
        const sent = r.resources.map((a) => {
          assert.equal(a.typeUrl, r.typeUrl, "a resource of another type in the response");
          return resourceName(a);
        });
        return { typeUrl: r.typeUrl, nonce: r.nonce, sent, removed: [] };
      },
      probed: () => {},
    });
  }

  function runDelta(s: DeltaClientStream, steps: DeltaStep[]): Promise<void> {
    return runSteps(steps, {
      stream: s,
      request: (step, t, nonce, withNode) => {
        for (const n of step.subscribe) t.subscribed.add(n);
        // Names a client held at reconnect may be sent back or reported removed.
        for (const n of Object.keys(step.initial)) t.subscribed.add(n);
        if (step.subscribe.includes("*") || (t.nonces.length === 0 && step.subscribe.length === 0)) t.wildcard = true;
        s.send({
          typeUrl: step.type,
          resourceNamesSubscribe: step.subscribe,
          resourceNamesUnsubscribe: step.unsubscribe,
          initialResourceVersions: step.initial,
          responseNonce: nonce,
          ...nackOf(step.nack),
          ...oddNode(withNode, step.node),
        }, withNode);
      },
      probe: (probe, _count, nonce, withNode) => s.send({ typeUrl: SDS, resourceNamesSubscribe: [probe], responseNonce: nonce }, withNode),
      inspect: (r: DeltaDiscoveryResponse) => {
        const sent = r.resources.map((x) => {
          assert.ok(x.resource !== undefined, `resource ${x.name} has no body`);
          assert.equal(x.resource.typeUrl, r.typeUrl, "a resource of another type in the response");
          assert.equal(resourceName(x.resource), x.name, "Resource.name differs from the packed resource's name");
          assert.notEqual(x.version, "", `resource ${x.name} has no version`);
          return x.name;
        });
        return { typeUrl: r.typeUrl, nonce: r.nonce, sent, removed: r.removedResources };
      },
      probed: (r) => s.ack(r),
    });
  }
});
