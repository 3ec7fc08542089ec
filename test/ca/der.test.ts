// The DER reader accepts one encoding per value only; what the CA verifies is what it parsed.
import assert from "node:assert/strict";
import { children, DerError, oid, readTlv, seq, time, tlv, Tag, unsignedInteger } from "../../src/ca/der.js";
import { parseDurationSeconds } from "../../src/cli/flags.js";

describe("DER reader and writer", function () {
  it("refuses indefinite, non-minimal and overlong lengths", () => {
    assert.throws(() => readTlv(Buffer.from([0x30, 0x80, 0x00, 0x00]), 0), /indefinite length/);
    assert.throws(() => readTlv(Buffer.from([0x04, 0x81, 0x05, 1, 2, 3, 4, 5]), 0), /non-minimal length/);
    assert.throws(() => readTlv(Buffer.from([0x04, 0x82, 0x00, 0x90]), 0), /non-minimal length/);
    assert.throws(() => readTlv(Buffer.from([0x04, 0x05, 1, 2]), 0), DerError);
    assert.throws(() => children(Buffer.from([0x30, 0x03, 0x04, 0x05, 0x00]), readTlv(Buffer.from([0x30, 0x03, 0x04, 0x05, 0x00]), 0)), /runs past/);
  });

  it("writes lengths, OIDs, integers and times as openssl expects", () => {
    const big = tlv(Tag.OctetString, Buffer.alloc(300));
    assert.deepEqual([...big.subarray(0, 4)], [0x04, 0x82, 0x01, 0x2c]);
    assert.equal(oid("1.2.840.10045.4.3.2").toString("hex"), "06082a8648ce3d040302");
    assert.equal(unsignedInteger(Buffer.from([0x00, 0x80])).toString("hex"), "02020080");
    assert.equal(unsignedInteger(Buffer.from([0x00, 0x00, 0x7f])).toString("hex"), "02017f");
    assert.equal(time(new Date(Date.UTC(2049, 11, 31, 23, 59, 59))).toString("latin1").slice(2), "491231235959Z");
    assert.equal(time(new Date(Date.UTC(2050, 0, 1))).toString("latin1").slice(2), "20500101000000Z");
    const s = seq(oid("2.5.29.17"), big);
    assert.equal(children(s, readTlv(s, 0)).length, 2);
  });

  it("parses durations for --ttl", () => {
    assert.equal(parseDurationSeconds("24h", "ttl"), 86400);
    assert.equal(parseDurationSeconds("1h30m", "ttl"), 5400);
    assert.equal(parseDurationSeconds("90", "ttl"), 90);
    assert.throws(() => parseDurationSeconds("1x", "ttl"), /--ttl "1x" is not a duration/);
  });
});
