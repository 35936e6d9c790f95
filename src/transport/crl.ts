/**
 * Client certificate revocation (`crlfile`), checked as Mosquitto's OpenSSL store does it
 * with X509_V_FLAG_CRL_CHECK: only the client certificate itself is looked up, in a CRL
 * issued by the certificate's issuer. Node's `crl` option would instead check every CA of
 * the chain (as X509_V_FLAG_CRL_CHECK_ALL does) and refuse every client whose file holds
 * only the issuing CA's CRL, so the TLS listener verifies revocation itself once the
 * handshake has verified the chain, before the connection is handed over.
 *
 * OpenSSL's choice among the CRLs of the file (get_crl_sk, check_crl, cert_crl), in the
 * parts that apply to a file of plain full CRLs:
 * - candidates are the CRLs whose issuer name equals the certificate's issuer name
 *   (compared as X509_NAME_cmp does: canonical, case and space folded);
 * - one that the issuer's key verifies and whose dates hold now is preferred; among
 *   equals the one with the latest thisUpdate;
 * - the chosen one must verify ("CRL signature failure"), have thisUpdate in the past
 *   ("CRL is not yet valid") and nextUpdate, if any, in the future ("CRL has expired");
 * - no candidate at all is "unable to get certificate CRL";
 * - the certificate's serial number listed is "certificate revoked".
 * Each of these fails the verification; Mosquitto then logs OpenSSL's "certificate verify
 * failed" line, which the listener logs too. The reasons here are OpenSSL's
 * X509_verify_cert_error_string() texts.
 */
import { Buffer } from 'node:buffer';
import type { X509Certificate } from 'node:crypto';
import type { Der } from './der.ts';
import {
  DerError,
  GENERALIZED_TIME,
  INTEGER,
  OID,
  SEQUENCE,
  UTC_TIME,
  bitStringBytes,
  certificateParts,
  children,
  expect,
  oidText,
  parseOne,
  readElement,
  signatureVerifies,
  x509Time,
} from './der.ts';

/** One certificate revocation list (RFC 5280 §5.1), the parts the check uses. */
export interface RevocationList {
  /** The issuer Name in canonical form (see canonicalName). */
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | null;
  /** Serial numbers of the revoked certificates, as hex of the INTEGER's contents. */
  readonly revoked: ReadonlySet<string>;
  /** The DER TBSCertList: what the signature covers. */
  readonly signed: Buffer;
  readonly signatureAlgorithm: Der;
  readonly signature: Buffer;
}

const CRL_BLOCK = /-----BEGIN X509 CRL-----\s*([A-Za-z0-9+/=\s]*?)-----END X509 CRL-----/g;

/** Every PEM CRL of a file, in order; throws DerError when one is not a CRL. */
export function parseCrlPem(pem: string): RevocationList[] {
  const lists: RevocationList[] = [];
  for (const match of pem.matchAll(CRL_BLOCK)) {
    lists.push(parseCrlDer(Buffer.from((match[1] ?? '').replace(/\s+/g, ''), 'base64')));
  }
  return lists;
}

/** A DER CertificateList. */
export function parseCrlDer(der: Buffer): RevocationList {
  const [tbs, algorithm, signature] = children(parseOne(der, SEQUENCE));
  const tbsList = expect(tbs, SEQUENCE);
  const fields = children(tbsList);
  // TBSCertList: version INTEGER OPTIONAL, signature, issuer, thisUpdate, nextUpdate
  // OPTIONAL, revokedCertificates OPTIONAL, [0] crlExtensions OPTIONAL.
  let next = fields[0]?.tag === INTEGER ? 1 : 0;
  next++; // the inner signature algorithm: the outer one is what is checked
  const issuer = canonicalName(expect(fields[next++], SEQUENCE));
  const thisUpdate = x509Time(required(fields[next++]));
  let nextUpdate: Date | null = null;
  const maybeNext = fields[next];
  if (maybeNext?.tag === UTC_TIME || maybeNext?.tag === GENERALIZED_TIME) {
    nextUpdate = x509Time(maybeNext);
    next++;
  }
  const revoked = new Set<string>();
  const entries = fields[next];
  if (entries?.tag === SEQUENCE) {
    for (const entry of children(entries)) {
      revoked.add(expect(children(expect(entry, SEQUENCE))[0], INTEGER).content.toString('hex'));
    }
  }
  return {
    issuer,
    thisUpdate,
    nextUpdate,
    revoked,
    signed: tbsList.whole,
    signatureAlgorithm: expect(algorithm, SEQUENCE),
    signature: bitStringBytes(signature),
  };
}

function required(element: Der | undefined): Der {
  if (element === undefined) throw new DerError('truncated CRL');
  return element;
}

// ---------------------------------------------------------------------------------------
// Names, compared as X509_NAME_cmp() does (x509_name_canon): every string attribute
// converted to UTF-8, leading and trailing spaces dropped, inner runs of spaces made one,
// ASCII lower-cased; other values compared as they are.

const UTF8_STRING = 0x0c;
const PRINTABLE_STRING = 0x13;
const T61_STRING = 0x14;
const IA5_STRING = 0x16;
const UNIVERSAL_STRING = 0x1c;
const BMP_STRING = 0x1e;
const VISIBLE_STRING = 0x1a;

function attributeText(value: Der): string | null {
  switch (value.tag) {
    case UTF8_STRING:
      return value.content.toString('utf8');
    case PRINTABLE_STRING:
    case IA5_STRING:
    case VISIBLE_STRING:
    case T61_STRING:
      return value.content.toString('latin1');
    case BMP_STRING:
      return Buffer.from(value.content).swap16().toString('utf16le');
    case UNIVERSAL_STRING: {
      let text = '';
      for (let i = 0; i + 4 <= value.content.length; i += 4) {
        text += String.fromCodePoint(value.content.readUInt32BE(i));
      }
      return text;
    }
    default:
      return null;
  }
}

/** A Name (DER SEQUENCE of RDN SETs) in a form equal names share. */
export function canonicalName(name: Der): string {
  const rdns: string[] = [];
  for (const rdn of children(expect(name, SEQUENCE))) {
    const entries: string[] = [];
    for (const attribute of children(rdn)) {
      const [type, value] = children(expect(attribute, SEQUENCE));
      const oid = oidText(expect(type, OID));
      if (value === undefined) throw new DerError('attribute without value');
      const text = attributeText(value);
      entries.push(
        text === null
          ? `${oid}#${value.whole.toString('hex')}`
          : `${oid}=${JSON.stringify(
              text
                .trim()
                .replace(/\s+/g, ' ')
                .replace(/[A-Z]/g, (c) => c.toLowerCase()),
            )}`,
      );
    }
    rdns.push(entries.sort().join('+'));
  }
  return rdns.join(',');
}

function canonicalNameOf(der: Buffer): string {
  return canonicalName(readElement(der, 0));
}

// ---------------------------------------------------------------------------------------
// The check.

/** X509_verify_cert_error_string() texts for the failures this check can find. */
export const CrlFailure = {
  NoCrl: 'unable to get certificate CRL',
  NoIssuer: 'unable to get local issuer certificate',
  SignatureFailure: 'CRL signature failure',
  NotYetValid: 'CRL is not yet valid',
  Expired: 'CRL has expired',
  Revoked: 'certificate revoked',
} as const;
export type CrlFailure = (typeof CrlFailure)[keyof typeof CrlFailure];

/** The CRLs of a listener's crlfile and the CAs that may have issued client certificates. */
export class RevocationCheck {
  readonly lists: readonly RevocationList[];
  readonly #authorities: readonly X509Certificate[];

  constructor(lists: readonly RevocationList[], authorities: readonly X509Certificate[]) {
    this.lists = lists;
    this.#authorities = authorities;
  }

  /**
   * Why `certificate` must be refused at `now`, or null when it may connect. `chain` is
   * what the handshake verified above it (the peer's certificates and the trusted ones);
   * the issuer is looked for there and among the listener's CAs.
   */
  check(
    certificate: X509Certificate,
    chain: readonly X509Certificate[],
    now: Date,
  ): CrlFailure | null {
    const parts = certificateParts(certificate);
    const issuerName = canonicalNameOf(parts.issuer);
    const issuer = [...chain, ...this.#authorities].find(
      (candidate) =>
        canonicalNameOf(certificateParts(candidate).subject) === issuerName &&
        certificate.verify(candidate.publicKey),
    );
    if (issuer === undefined) return CrlFailure.NoIssuer;

    let best: RevocationList | null = null;
    let bestScore = -1;
    for (const list of this.lists) {
      if (list.issuer !== issuerName) continue;
      const verified = signatureVerifies(
        list.signatureAlgorithm,
        list.signed,
        issuer.publicKey,
        list.signature,
      );
      const score = (verified ? 2 : 0) + (timeProblem(list, now) === null ? 1 : 0);
      if (
        score > bestScore ||
        (score === bestScore && best !== null && list.thisUpdate > best.thisUpdate)
      ) {
        best = list;
        bestScore = score;
      }
    }
    if (best === null) return CrlFailure.NoCrl;
    // check_crl() looks at the dates before the signature.
    const problem = timeProblem(best, now);
    if (problem !== null) return problem;
    if (bestScore < 2) return CrlFailure.SignatureFailure;
    return best.revoked.has(parts.serial.toString('hex')) ? CrlFailure.Revoked : null;
  }
}

function timeProblem(list: RevocationList, now: Date): CrlFailure | null {
  if (list.thisUpdate > now) return CrlFailure.NotYetValid;
  if (list.nextUpdate !== null && list.nextUpdate < now) return CrlFailure.Expired;
  return null;
}
