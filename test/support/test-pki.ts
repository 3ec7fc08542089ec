// A throwaway PKI made with the openssl CLI (an independent implementation): a CA, a server
// certificate for 127.0.0.1, and a workload client certificate with a SPIFFE URI SAN.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestPki {
  readonly dir: string;
  readonly ca: Buffer;
  readonly serverCert: Buffer;
  readonly serverKey: Buffer;
  readonly clientCert: Buffer;
  readonly clientKey: Buffer;
  /** DER of the client certificate, as openssl encodes it. */
  readonly clientCertDer: Buffer;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function leaf(dir: string, name: string, subject: string, san: string): void {
  openssl(dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-subj", subject, "-out", `${name}.csr`);
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
  openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", `${name}.ext`, "-out", `${name}.crt`);
}

/** Another certificate from the PKI's CA (made in `pkiDir`), e.g. one more workload identity. */
export function issueLeaf(pkiDir: string, name: string, subject: string, san: string): { readonly cert: Buffer; readonly key: Buffer } {
  leaf(pkiDir, name, subject, san);
  return { cert: readFileSync(join(pkiDir, `${name}.crt`)), key: readFileSync(join(pkiDir, `${name}.key`)) };
}

export function makeTestPki(spiffeId = "spiffe://cluster.local/ns/default/sa/web"): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "meshward-pki-"));
  openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-subj", "/O=meshward-test/CN=test-ca", "-days", "1", "-out", "ca.crt");
  leaf(dir, "server", "/CN=xds", "IP:127.0.0.1,DNS:localhost");
  leaf(dir, "client", "/O=meshward-test", `URI:${spiffeId}`);
  openssl(dir, "x509", "-in", "client.crt", "-outform", "DER", "-out", "client.der");
  const read = (f: string): Buffer => readFileSync(join(dir, f));
  return {
    dir,
    ca: read("ca.crt"),
    serverCert: read("server.crt"),
    serverKey: read("server.key"),
    clientCert: read("client.crt"),
    clientKey: read("client.key"),
    clientCertDer: read("client.der"),
  };
}
