// Property-based fuzzing of the CSR parser (issue 15 item 9): a CSR is untrusted DER from any
// authenticated caller. Whatever the bytes (random, or a valid CSR of each key kind mutated by
// flips, cuts, insertions and length-byte edits) parseAndVerifyCsr must settle quickly with a
// result or a CsrError: any other exception is a crash of the CA path.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { CsrError, parseAndVerifyCsr } from "../../src/ca/csr.js";
import { createCsr } from "../../src/ca/csr-builder.js";
import { pemDecodeOne, pemEncode } from "../../src/ca/pem.js";
import { children, readTlv, seq, tlv, whole, Tag } from "../../src/ca/der.js";
import * as grpc from "@grpc/grpc-js";
import { CaClient } from "../../src/ca/ca-api.js";
import { MeshwardTokenAuthenticator } from "../../src/security/token-authenticator.js";
import { TokenKey } from "../../src/security/token-key.js";
import { newCa, opensslCsr, startCaServer, TRUST_DOMAIN } from "../ca/helpers.js";
import { fuzzParameters, settlesWithin } from "./settings.js";

const LABEL = "CERTIFICATE REQUEST";

/** Parses and classifies: "ok", or the CsrError message; anything else fails the property. */
async function outcome(pem: string): Promise<string> {
  try {
    await settlesWithin(parseAndVerifyCsr(pem), 2000, "parseAndVerifyCsr");
    return "ok";
  } catch (e) {
    if (e instanceof CsrError) {
      assert.ok(e.message.length > 0, "a CsrError says what is wrong");
      return e.message;
    }
    throw e;
  }
}

type Mutation =
  | { kind: "flip"; at: number; bits: number }
  | { kind: "set"; at: number; byte: number }
  | { kind: "cut"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; count: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
  // Length bytes and tags are where a DER reader goes wrong: favour the values that matter.
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.oneof(fc.constantFrom(0x00, 0x7f, 0x80, 0x81, 0x82, 0x84, 0x85, 0xff, 0x30, 0xa0, 0x02, 0x03), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
);

function mutate(der: Buffer, ms: readonly Mutation[]): Buffer {
  let b = Buffer.from(der);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === "flip") b[at] = b[at]! ^ m.bits;
    else if (m.kind === "set") b[at] = m.byte;
    else if (m.kind === "cut") b = b.subarray(0, at);
    else if (m.kind === "insert") b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
  }
  return b;
}

describe("fuzz: CSR parser (untrusted DER)", function () {
  this.timeout(120_000);
  const valid: { name: string; der: Buffer }[] = [];
  let dir = "";

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "meshward-fuzz-csr-"));
    const ec256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const ec384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    for (const [name, k] of [["ec-p256", ec256], ["ec-p384", ec384], ["rsa", rsa]] as const) {
      valid.push({ name, der: pemDecodeOne(createCsr(k.privateKey, k.publicKey, "spiffe://cluster.local/ns/a/sa/b"), [LABEL], "CSR") });
    }
    // RSASSA-PSS parameters only come from a foreign producer: openssl req.
    const pss = await opensslCsr(dir, "rsa-pss", "spiffe://cluster.local/ns/a/sa/b");
    valid.push({ name: "rsa-pss", der: pemDecodeOne(pss.csr, [LABEL], "CSR") });
    for (const v of valid) assert.equal(await outcome(pemEncode(LABEL, v.der)), "ok", `the unmutated ${v.name} CSR parses`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("arbitrary bytes in a PEM block give a CsrError, never another exception", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        assert.notEqual(await outcome(pemEncode(LABEL, bytes)), "ok");
      }),
      fuzzParameters(400, 20),
    );
  });

  it("arbitrary text as PEM gives a CsrError, never another exception", async () => {
    const pemish = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.tuple(fc.string({ maxLength: 40 }), fc.base64String({ maxLength: 200 })).map(([label, body]) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`),
      fc.base64String({ maxLength: 200 }).map((body) => `-----BEGIN ${LABEL}-----\n${body}\n-----END ${LABEL}-----\n`),
    );
    await fc.assert(
      fc.asyncProperty(pemish, async (text) => {
        await outcome(text);
      }),
      fuzzParameters(400, 15),
    );
  });

  it("valid CSRs of every key kind, mutated, give a result or a CsrError and never verify a changed request", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 3 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (which, ms) => {
        const base = valid[which % valid.length]!;
        const der = mutate(base.der, ms);
        const r = await outcome(pemEncode(LABEL, der));
        // Strict DER and a signature over exactly what was parsed leave one accepted encoding: any
        // changed byte must be refused (a changed request that verifies would be a malleable parser).
        if (!der.equals(base.der)) assert.notEqual(r, "ok", `a mutated ${base.name} CSR was accepted`);
      }),
      fuzzParameters(1500, 40),
    );
  });

  it("the CA's gRPC CreateCertificate answers mutated CSRs with INVALID_ARGUMENT, never an internal error or a certificate", async () => {
    const key = TokenKey.generate();
    const ca = await newCa(path.join(dir, "ca"));
    const server = await startCaServer(ca, [new MeshwardTokenAuthenticator({ trustDomain: TRUST_DOMAIN, publicKeys: [key.publicKey] })]);
    const client = new CaClient(server.address, grpc.credentials.createInsecure());
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: 3 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (which, ms) => {
          const base = valid[which % valid.length]!;
          const der = mutate(base.der, ms);
          // A caller of its own per run, so no per-caller bound decides the outcome.
          const token = key.mint({ namespace: "fuzz", serviceAccount: `caller-${++n}` });
          try {
            await settlesWithin(client.createCertificate({ csrPem: pemEncode(LABEL, der), token }), 5000, "CreateCertificate");
            assert.ok(der.equals(base.der), `a certificate for a mutated ${base.name} CSR`);
          } catch (e) {
            const err = e as { code?: number; details?: string };
            assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `status ${String(err.code)}: ${String(err.details ?? e)}`);
          }
        }),
        fuzzParameters(200, 20),
      );
    } finally {
      client.close();
      await server.stop();
    }
  });

  // Regressions the fuzzer found: the PSS AlgorithmIdentifier sits outside the signed info, so its
  // parser must be as strict as the rest or it accepts many encodings of one request.
  describe("RSASSA-PSS parameters (found by fuzzing)", () => {
    /** The openssl PSS CSR with its RSASSA-PSS-params fields replaced by `fields` (hex TLVs). */
    function withPssFields(fields: string[]): string {
      const der = valid.find((v) => v.name === "rsa-pss")!.der;
      const [info, alg, sig] = children(der, readTlv(der, 0));
      const algOid = readTlv(der, alg!.valueStart, alg!.end);
      const params = seq(...fields.map((h) => Buffer.from(h, "hex")));
      return pemEncode(LABEL, seq(whole(der, info!), seq(whole(der, algOid), params), whole(der, sig!)));
    }
    const sha256 = "300d06096086480165030402010500";
    const sha256NoNull = "300b0609608648016503040201";
    const mgf1Sha256 = "a11c301a06092a864886f70d010108" + sha256;
    const hashField = (h: string): string => tlv(0xa0, Buffer.from(h, "hex")).toString("hex");

    it("accepts the parameters as openssl wrote them, and a hash without NULL parameters", async () => {
      assert.equal(await outcome(withPssFields([hashField(sha256), mgf1Sha256, "a203020120"])), "ok");
      assert.equal(await outcome(withPssFields([hashField(sha256NoNull), mgf1Sha256, "a203020120"])), "ok");
    });

    it("refuses a zero-length saltLength INTEGER with a CsrError (was a RangeError)", async () => {
      assert.match(await outcome(withPssFields([hashField(sha256), mgf1Sha256, "a2020200"])), /saltLength is malformed/);
    });

    it("refuses a hash AlgorithmIdentifier that is not a SEQUENCE, or whose parameters are not NULL", async () => {
      assert.match(await outcome(withPssFields([hashField("000d06096086480165030402010500"), mgf1Sha256, "a203020120"])), /malformed/);
      assert.match(await outcome(withPssFields([hashField("300d06096086480165030402010000"), mgf1Sha256, "a203020120"])), /malformed/);
    });

    it("refuses repeated, reordered or padded fields and a trailerField other than 1", async () => {
      for (const fields of [
        [hashField(sha256), hashField(sha256), mgf1Sha256],
        [mgf1Sha256, hashField(sha256)],
        [tlv(0xa0, Buffer.from(sha256 + "0500", "hex")).toString("hex"), mgf1Sha256],
        [hashField(sha256), mgf1Sha256, "a203020120", "a303020102"],
      ]) {
        assert.notEqual(await outcome(withPssFields(fields)), "ok", fields.join(" "));
      }
    });

    it("refuses an MGF that is not a SEQUENCE of MGF1 and one hash", async () => {
      assert.notEqual(await outcome(withPssFields([hashField(sha256), "a11c001a06092a864886f70d010108" + sha256, "a203020120"])), "ok");
      assert.notEqual(await outcome(withPssFields([hashField(sha256), "a11e301c06092a864886f70d010108" + sha256 + "0500", "a203020120"])), "ok");
    });
  });
});
