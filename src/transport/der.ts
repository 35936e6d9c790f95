/**
 * A small DER reader (X.690) for the structures we check ourselves because Node has no API
 * for them: stapled OCSP responses (ocsp.ts) and certificate revocation lists (crl.ts). Only
 * single-byte tags and definite lengths: DER allows nothing else for the types X.509, CRLs
 * and OCSP use. Also the certificate fields both need and signature checking by algorithm
 * identifier.
 */
import type { Buffer } from 'node:buffer';
import { constants, verify } from 'node:crypto';
import type { KeyObject, X509Certificate } from 'node:crypto';

/** Bytes that are not DER of the expected shape. */
export class DerError extends Error {
  override readonly name = 'DerError';
}

export interface Der {
  readonly tag: number;
  /** The whole element, header included (what a signature or a hash covers). */
  readonly whole: Buffer;
  readonly content: Buffer;
}

export const BOOLEAN = 0x01;
export const INTEGER = 0x02;
export const BIT_STRING = 0x03;
export const OCTET_STRING = 0x04;
export const OID = 0x06;
export const ENUMERATED = 0x0a;
export const SEQUENCE = 0x30;
export const UTC_TIME = 0x17;
export const GENERALIZED_TIME = 0x18;
/** A constructed context-specific tag [n]: EXPLICIT ones, and IMPLICIT SEQUENCEs. */
export const context = (n: number): number => 0xa0 + n;
/** A primitive context-specific tag [n]: IMPLICIT NULLs and INTEGERs. */
export const contextPrimitive = (n: number): number => 0x80 + n;

export function readElement(buffer: Buffer, offset: number): Der {
  if (offset + 2 > buffer.length) throw new DerError('truncated');
  const tag = buffer[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tag');
  let length = buffer[offset + 1] as number;
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    // 0x80 is BER's indefinite length; more than 4 length bytes is never a real structure.
    if (count === 0 || count > 4 || offset + 2 + count > buffer.length) {
      throw new DerError('bad length');
    }
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buffer[offset + 2 + i] as number);
    header += count;
  }
  const end = offset + header + length;
  if (end > buffer.length) throw new DerError('truncated');
  return {
    tag,
    whole: buffer.subarray(offset, end),
    content: buffer.subarray(offset + header, end),
  };
}

/** The elements inside a constructed element. */
export function children(element: Der): Der[] {
  const out: Der[] = [];
  for (let offset = 0; offset < element.content.length;) {
    const child = readElement(element.content, offset);
    out.push(child);
    offset += child.whole.length;
  }
  return out;
}

/** `element` if it has this tag, else a DerError: the shape is not what the RFC says. */
export function expect(element: Der | undefined, tag: number): Der {
  if (element?.tag !== tag) throw new DerError(`expected tag ${tag.toString(16)}`);
  return element;
}

/** A buffer holding exactly one element of this tag. */
export function parseOne(buffer: Buffer, tag: number): Der {
  const element = readElement(buffer, 0);
  if (element.whole.length !== buffer.length) throw new DerError('trailing bytes');
  return expect(element, tag);
}

/** An OBJECT IDENTIFIER in dotted form, to look algorithms and types up by. */
export function oidText(element: Der): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of expect(element, OID).content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) !== 0) continue;
    // The first subidentifier packs the first two arcs: 40 * first + second.
    if (arcs.length > 0) arcs.push(value);
    else if (value < 80) arcs.push(Math.floor(value / 40), value % 40);
    else arcs.push(2, value - 80);
    value = 0;
  }
  return arcs.join('.');
}

export function smallInteger(element: Der): number {
  const bytes = element.content;
  if (bytes.length === 0 || bytes.length > 4) throw new DerError('bad integer');
  return bytes.readIntBE(0, bytes.length);
}

/** GeneralizedTime as RFC 5280 and RFC 6960 use it: YYYYMMDDHHMMSS[.fff]Z. */
export function generalizedTime(element: Der): Date {
  const text = expect(element, GENERALIZED_TIME).content.toString('latin1');
  const match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\.\d+)?Z$/.exec(text);
  if (match === null) throw new DerError('bad time');
  const [, y, mo, d, h, mi, s, fraction] = match;
  const ms = fraction === undefined ? 0 : Math.floor(Number(fraction) * 1000);
  return new Date(
    Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms),
  );
}

/** X.509's Time: UTCTime (YYMMDDHHMMSSZ, years 1950-2049) or GeneralizedTime. */
export function x509Time(element: Der): Date {
  if (element.tag === GENERALIZED_TIME) return generalizedTime(element);
  const text = expect(element, UTC_TIME).content.toString('latin1');
  const match = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
  if (match === null) throw new DerError('bad time');
  const [, yy, mo, d, h, mi, s] = match;
  const year = Number(yy) < 50 ? 2000 + Number(yy) : 1900 + Number(yy);
  return new Date(Date.UTC(year, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
}

/** An AlgorithmIdentifier: its OID and its parameters (undefined when absent). */
export function algorithmIdentifier(element: Der | undefined): { oid: string; params?: Der } {
  const [oid, params] = children(expect(element, SEQUENCE));
  return params === undefined
    ? { oid: oidText(expect(oid, OID)) }
    : { oid: oidText(expect(oid, OID)), params };
}

/** A BIT STRING's bits; signatures and keys are whole bytes (no unused bits). */
export function bitStringBytes(element: Der | undefined): Buffer {
  const bits = expect(element, BIT_STRING).content;
  if (bits[0] !== 0) throw new DerError('bad bit string');
  return bits.subarray(1);
}

// ---------------------------------------------------------------------------------------
// Certificates: the fields node:crypto's X509Certificate gives only as text.

export interface CertificateParts {
  /** The serial number INTEGER's contents. */
  readonly serial: Buffer;
  /** The issuer Name, DER. */
  readonly issuer: Buffer;
  /** The subject Name, DER. */
  readonly subject: Buffer;
  /** The subjectPublicKey BIT STRING's bits. */
  readonly publicKeyBits: Buffer;
}

export function certificateParts(certificate: X509Certificate): CertificateParts {
  const tbs = children(expect(children(parseOne(certificate.raw, SEQUENCE))[0], SEQUENCE));
  // An optional [0] version comes first; then serial, signature, issuer, validity,
  // subject, subjectPublicKeyInfo.
  const fields = tbs[0]?.tag === context(0) ? tbs.slice(1) : tbs;
  const spki = children(expect(fields[5], SEQUENCE));
  return {
    serial: expect(fields[0], INTEGER).content,
    issuer: expect(fields[2], SEQUENCE).whole,
    subject: expect(fields[4], SEQUENCE).whole,
    publicKeyBits: bitStringBytes(spki[1]),
  };
}

// ---------------------------------------------------------------------------------------
// Signatures.

/** Digest algorithms, by OID, as node:crypto names them. */
export const HASHES: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** Signature algorithms, by OID: the digest node:crypto's verify() takes (null: none). */
const SIGNATURES: Readonly<Record<string, string | null>> = {
  '1.2.840.10045.4.1': 'sha1', // ecdsa-with-SHA1
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.5': 'sha1', // sha1WithRSAEncryption
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null, // Ed25519
  '1.3.101.113': null, // Ed448
};

const RSASSA_PSS = '1.2.840.113549.1.1.10';

/**
 * RSASSA-PSS-params (RFC 4055): hashAlgorithm [0] (default SHA-1), maskGenAlgorithm [1]
 * (MGF1 with the same hash is all OpenSSL signs with), saltLength [2] (default 20).
 */
function pssParameters(params: Der | undefined): { hash: string; saltLength: number } | null {
  let hash = 'sha1';
  let saltLength = 20;
  if (params === undefined || params.tag !== SEQUENCE) return { hash, saltLength };
  for (const field of children(params)) {
    const inner = children(field)[0];
    if (field.tag === context(0)) {
      const found = HASHES[algorithmIdentifier(inner).oid];
      if (found === undefined) return null;
      hash = found;
    } else if (field.tag === context(2)) {
      saltLength = smallInteger(expect(inner, INTEGER));
    }
  }
  return { hash, saltLength };
}

/**
 * Whether `signature` over `signed` verifies with `key` for the AlgorithmIdentifier
 * `algorithm`. An unknown algorithm, or a key that does not fit it, does not verify.
 */
export function signatureVerifies(
  algorithm: Der | undefined,
  signed: Buffer,
  key: KeyObject,
  signature: Buffer,
): boolean {
  try {
    const { oid, params } = algorithmIdentifier(algorithm);
    if (oid === RSASSA_PSS) {
      const pss = pssParameters(params);
      if (pss === null) return false;
      return verify(
        pss.hash,
        signed,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: pss.saltLength },
        signature,
      );
    }
    const hash = SIGNATURES[oid];
    if (hash === undefined) return false;
    return verify(hash, signed, key, signature);
  } catch {
    return false;
  }
}
