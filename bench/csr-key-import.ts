// Which node:crypto path turns a CSR's P-256 public key into something crypto.verify accepts most
// cheaply (issue 3: the CA spends about half a verify on it). Each variant imports the key and
// verifies one ECDSA signature; "verify only" is the floor (a key object made beforehand). CPU
// microseconds per operation, the median of 5 rounds; `openssl speed` in the same run as the
// reference. Figures only, never pass/fail. Last stdout line: one JSON object.
//   npm run bench:csr-key-import
import { execFileSync } from "node:child_process";
import { createPublicKey, generateKeyPairSync, KeyObject, sign, verify, webcrypto, type KeyObject as Key } from "node:crypto";

const OPS = Number(process.env.BENCH_OPS ?? 4000);
const ROUNDS = 5;
const data = Buffer.alloc(300, 7); // about a CertificationRequestInfo
const curve = { name: "ECDSA", namedCurve: "P-256" };

interface Item {
  readonly spki: Buffer;
  readonly point: Buffer;
  readonly signature: Buffer;
  readonly made: Key;
}

const items: Item[] = Array.from({ length: 64 }, () => {
  const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const spki = pair.publicKey.export({ format: "der", type: "spki" });
  return { spki, point: spki.subarray(spki.length - 65), signature: sign("sha256", data, pair.privateKey), made: pair.publicKey };
});

const jwk = (p: Buffer) => ({ kty: "EC", crv: "P-256", x: p.subarray(1, 33).toString("base64url"), y: p.subarray(33).toString("base64url") });

const variants: Record<string, (it: Item) => boolean | Promise<boolean>> = {
  "verify only (key made beforehand)": (it) => verify("sha256", data, it.made, it.signature),
  "webcrypto importKey raw + KeyObject.from (in use)": async (it) =>
    verify("sha256", data, KeyObject.from(await webcrypto.subtle.importKey("raw", it.point, curve, true, ["verify"])), it.signature),
  "webcrypto importKey spki + KeyObject.from": async (it) =>
    verify("sha256", data, KeyObject.from(await webcrypto.subtle.importKey("spki", it.spki, curve, true, ["verify"])), it.signature),
  "webcrypto importKey jwk + KeyObject.from": async (it) =>
    verify("sha256", data, KeyObject.from(await webcrypto.subtle.importKey("jwk", jwk(it.point), curve, true, ["verify"])), it.signature),
  "crypto.verify with {key: spki DER}": (it) => verify("sha256", data, { key: it.spki, format: "der", type: "spki" }, it.signature),
  "createPublicKey spki DER": (it) => verify("sha256", data, createPublicKey({ key: it.spki, format: "der", type: "spki" }), it.signature),
  "createPublicKey jwk": (it) => verify("sha256", data, createPublicKey({ key: jwk(it.point), format: "jwk" }), it.signature),
};

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const results: Record<string, number> = {};
for (const [name, fn] of Object.entries(variants)) {
  for (let i = 0; i < 300; i++) await fn(items[i % items.length]!);
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = cpuMs();
    for (let i = 0; i < OPS; i++) if (!(await fn(items[i % items.length]!))) throw new Error(`${name}: signature did not verify`);
    rounds.push(((cpuMs() - start) * 1000) / OPS);
  }
  results[name] = Math.round(rounds.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]! * 10) / 10;
  console.log(`${name.padEnd(52)} ${results[name]} us per import + verify (CPU)`);
}
const out = execFileSync("openssl", ["speed", "-seconds", "1", "ecdsap256"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
const m = /256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/.exec(out);
const opensslVerifyUs = m ? Math.round((1e6 / Number(m[2])) * 10) / 10 : NaN;
console.log(`openssl speed: ecdsap256 verify ${opensslVerifyUs} us`);
console.log(JSON.stringify({ ...results, opensslVerifyUs }));
