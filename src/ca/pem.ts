// PEM armour. Encoding is on the issuing fast path, so it avoids regexes and builds one string.

export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  let body = "";
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + "\n";
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** All blocks with one of `labels`, in order, as DER. */
export function pemDecodeAll(text: string, labels: readonly string[]): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const begin = text.indexOf("-----BEGIN ", pos);
    if (begin < 0) return out;
    const labelEnd = text.indexOf("-----", begin + 11);
    if (labelEnd < 0) throw new Error("unterminated PEM header");
    const label = text.slice(begin + 11, labelEnd);
    const footer = `-----END ${label}-----`;
    const end = text.indexOf(footer, labelEnd + 5);
    if (end < 0) throw new Error(`PEM block "${label}" has no END line`);
    if (labels.includes(label)) {
      const body = text.slice(labelEnd + 5, end);
      if (!/^[A-Za-z0-9+/=\s]*$/.test(body)) throw new Error(`PEM block "${label}" is not base64`);
      out.push(Buffer.from(body, "base64"));
    }
    pos = end + footer.length;
  }
}

export function pemDecodeOne(text: string, labels: readonly string[], what: string): Buffer {
  const blocks = pemDecodeAll(text, labels);
  if (blocks.length !== 1) {
    throw new Error(`${what}: expected one PEM block of type ${labels.join(" or ")}, found ${blocks.length}`);
  }
  return blocks[0];
}

export const CERTIFICATE = "CERTIFICATE";

/** Splits a PEM bundle into one PEM string per certificate. */
export function splitCertificates(text: string): string[] {
  return pemDecodeAll(text, [CERTIFICATE]).map((der) => pemEncode(CERTIFICATE, der));
}
