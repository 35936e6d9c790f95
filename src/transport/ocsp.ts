/**
 * The check behind `bridge_require_ocsp` (MOSQ_OPT_TLS_OCSP_REQUIRED): the stapled OCSP
 * response (RFC 6960) the server sent in the handshake must be there, be signed by the
 * server certificate's issuer or by a responder that issuer delegated to, name the server
 * certificate, say "good" and be current. Mosquitto does this in
 * mosquitto__verify_ocsp_status_cb (lib/net_mosq_ocsp.c) with OpenSSL's OCSP functions;
 * Node has none, so this module reads the DER itself (only the parts an OCSP response
 * and a certificate need) and checks signatures with node:crypto.
 *
 * The reasons returned are the lines Mosquitto logs when it refuses (same texts, so a log
 * reads the same), with one addition: Mosquitto (OpenSSL's OCSP_basic_verify) checks that
 * every CertID names the issuer but never compares the serial number, so it accepts a
 * "good" response about another certificate of the same CA. We refuse that.
 */
import type { Buffer } from 'node:buffer';
import { createHash, X509Certificate } from 'node:crypto';
import type { Der } from './der.ts';
import {
  DerError,
  ENUMERATED,
  GENERALIZED_TIME,
  HASHES,
  INTEGER,
  OCTET_STRING,
  OID,
  SEQUENCE,
  bitStringBytes,
  certificateParts,
  children,
  context,
  contextPrimitive,
  expect,
  generalizedTime,
  oidText,
  parseOne,
  signatureVerifies,
  smallInteger,
} from './der.ts';

// ---------------------------------------------------------------------------------------
// The parts of a certificate a CertID and a ResponderID are made from.

interface CertificateIds {
  /** The subject Name, DER (issuerNameHash is its hash; byName ResponderIDs compare it). */
  readonly subject: Buffer;
  /** The serial number INTEGER's contents. */
  readonly serial: Buffer;
  /** The subjectPublicKey BIT STRING's bits (issuerKeyHash and byKey hash these). */
  readonly publicKeyBits: Buffer;
}

function certificateIds(certificate: X509Certificate): CertificateIds {
  const { serial, subject, publicKeyBits } = certificateParts(certificate);
  return { serial, subject, publicKeyBits };
}

// ---------------------------------------------------------------------------------------
// The OCSP response.

const ID_PKIX_OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
const ID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';

/** OpenSSL's OCSP_response_status_str(), OCSP_cert_status_str(), OCSP_crl_reason_str(). */
const RESPONSE_STATUS = [
  'successful',
  'malformedrequest',
  'internalerror',
  'trylater',
  '(UNKNOWN)', // 4 is not used
  'sigrequired',
  'unauthorized',
];
const CERT_STATUS = ['good', 'revoked', 'unknown'] as const;
const CRL_REASON = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  '(UNKNOWN)', // 7 is not a reason
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
];
const tableString = (table: readonly string[], n: number): string => table[n] ?? '(UNKNOWN)';

interface SingleResponse {
  readonly hash: string;
  readonly issuerNameHash: Buffer;
  readonly issuerKeyHash: Buffer;
  readonly serial: Buffer;
  /** 0 good, 1 revoked, 2 unknown (OpenSSL's V_OCSP_CERTSTATUS_*). */
  readonly status: number;
  /** The CRLReason, -1 when the response gives none (as OpenSSL reports it). */
  readonly reason: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | null;
}

interface BasicResponse {
  readonly tbs: Buffer;
  /** The AlgorithmIdentifier. */
  readonly signatureAlgorithm: Der;
  readonly signature: Buffer;
  readonly responder: { readonly byName: Buffer } | { readonly byKey: Buffer };
  readonly responses: readonly SingleResponse[];
  readonly certs: readonly Buffer[];
}

function parseSingle(element: Der): SingleResponse {
  const [certId, certStatus, thisUpdate, ...rest] = children(expect(element, SEQUENCE));
  const [algorithm, nameHash, keyHash, serial] = children(expect(certId, SEQUENCE));
  const hash = HASHES[oidText(expect(children(expect(algorithm, SEQUENCE))[0], OID))];
  let status: number;
  let reason = -1;
  if (certStatus?.tag === contextPrimitive(0)) status = 0;
  else if (certStatus?.tag === context(1)) {
    // RevokedInfo: revocationTime, [0] EXPLICIT CRLReason OPTIONAL.
    status = 1;
    const [, reasonField] = children(certStatus);
    if (reasonField !== undefined) {
      reason = smallInteger(expect(children(expect(reasonField, context(0)))[0], ENUMERATED));
    }
  } else if (certStatus?.tag === contextPrimitive(2)) status = 2;
  else throw new DerError('bad certStatus');
  const next = rest[0]?.tag === context(0) ? rest[0] : undefined;
  return {
    // An unknown algorithm is '' here; it then matches no issuer (OpenSSL fails too).
    hash: hash ?? '',
    issuerNameHash: expect(nameHash, OCTET_STRING).content,
    issuerKeyHash: expect(keyHash, OCTET_STRING).content,
    serial: expect(serial, INTEGER).content,
    status,
    reason,
    thisUpdate: generalizedTime(expect(thisUpdate, GENERALIZED_TIME)),
    nextUpdate:
      next === undefined ? null : generalizedTime(expect(children(next)[0], GENERALIZED_TIME)),
  };
}

function parseBasic(buffer: Buffer): BasicResponse {
  const [tbs, algorithm, signature, certs] = children(parseOne(buffer, SEQUENCE));
  const tbsData = expect(tbs, SEQUENCE);
  const tbsFields = children(tbsData);
  // ResponseData: [0] version OPTIONAL, responderID, producedAt, responses, [1] extensions.
  const fields = tbsFields[0]?.tag === context(0) ? tbsFields.slice(1) : tbsFields;
  const [responderId, , responses] = fields;
  let responder: BasicResponse['responder'];
  if (responderId?.tag === context(1)) {
    responder = { byName: expect(children(responderId)[0], SEQUENCE).whole };
  } else if (responderId?.tag === context(2)) {
    responder = { byKey: expect(children(responderId)[0], OCTET_STRING).content };
  } else throw new DerError('bad responderID');
  return {
    tbs: tbsData.whole,
    signatureAlgorithm: expect(algorithm, SEQUENCE),
    signature: bitStringBytes(signature),
    responder,
    responses: children(expect(responses, SEQUENCE)).map(parseSingle),
    certs:
      certs === undefined
        ? []
        : children(expect(children(expect(certs, context(0)))[0], SEQUENCE)).map((c) => c.whole),
  };
}

/** OCSPResponse: the status, and the BasicOCSPResponse when there is one. */
function parseResponse(buffer: Buffer): { status: number; basic: BasicResponse | null } {
  const [status, bytes] = children(parseOne(buffer, SEQUENCE));
  const code = smallInteger(expect(status, ENUMERATED));
  if (bytes === undefined) return { status: code, basic: null };
  const [type, response] = children(expect(children(expect(bytes, context(0)))[0], SEQUENCE));
  // Basic is the only response type RFC 6960 defines and the only one OpenSSL reads.
  if (oidText(expect(type, OID)) !== ID_PKIX_OCSP_BASIC) return { status: code, basic: null };
  return { status: code, basic: parseBasic(expect(response, OCTET_STRING).content) };
}

// ---------------------------------------------------------------------------------------
// The checks.

/** OpenSSL's OCSP_check_validity() leeway as Mosquitto calls it: 5 minutes either way. */
const LEEWAY_MS = 300_000;

const digest = (hash: string, data: Buffer): Buffer => createHash(hash).update(data).digest();

function responderMatches(responder: BasicResponse['responder'], ids: CertificateIds): boolean {
  return 'byName' in responder
    ? responder.byName.equals(ids.subject)
    : responder.byKey.equals(digest('sha1', ids.publicKeyBits));
}

function namesIssuer(single: SingleResponse, issuer: CertificateIds): boolean {
  if (single.hash === '') return false;
  return (
    single.issuerNameHash.equals(digest(single.hash, issuer.subject)) &&
    single.issuerKeyHash.equals(digest(single.hash, issuer.publicKeyBits))
  );
}

/**
 * Whether the response is signed by someone entitled to speak for the issuer (OpenSSL's
 * OCSP_basic_verify() with the peer chain): the issuer itself, or a responder certificate
 * carried in the response, issued and signed by the issuer, valid now, with the OCSP
 * Signing extended key usage. The issuer needs no check of its own: it came from the
 * chain the TLS handshake has just verified against the trusted CAs.
 */
function signedByIssuer(basic: BasicResponse, issuer: X509Certificate, now: Date): boolean {
  const issuerIds = certificateIds(issuer);
  let signer: X509Certificate | null = responderMatches(basic.responder, issuerIds) ? issuer : null;
  if (signer === null) {
    for (const raw of basic.certs) {
      const candidate = new X509Certificate(raw);
      if (responderMatches(basic.responder, certificateIds(candidate))) {
        signer = candidate;
        break;
      }
    }
  }
  if (signer === null) return false;
  if (!signatureVerifies(basic.signatureAlgorithm, basic.tbs, signer.publicKey, basic.signature)) {
    return false;
  }
  if (signer === issuer) return true;
  return (
    signer.checkIssued(issuer) &&
    signer.verify(issuer.publicKey) &&
    new Date(signer.validFrom) <= now &&
    now <= new Date(signer.validTo) &&
    // Typed as always there, undefined without an extendedKeyUsage extension.
    ((signer.keyUsage as string[] | undefined) ?? []).includes(ID_KP_OCSP_SIGNING)
  );
}

/**
 * Checks a stapled OCSP response for `certificate`, issued by `issuer`, at `now`.
 * Returns null when the connection may go on, otherwise why not (Mosquitto's log text).
 */
export function checkOcspResponse(
  response: Buffer | null | undefined,
  certificate: X509Certificate,
  issuer: X509Certificate,
  now: Date,
): string | null {
  if (response === null || response === undefined || response.length === 0) {
    return 'OCSP: no response';
  }
  try {
    const { status, basic } = parseResponse(response);
    if (status !== 0) {
      return `OCSP: invalid status: ${tableString(RESPONSE_STATUS, status)} (${String(status)})`;
    }
    if (basic === null) return 'OCSP: invalid response';
    // OCSP_basic_verify(): the signer, then every CertID must name the signer's issuer.
    // OpenSSL returns 0 for all of these (its -1 is for internal errors).
    const issuerIds = certificateIds(issuer);
    if (
      !signedByIssuer(basic, issuer, now) ||
      basic.responses.length === 0 ||
      !basic.responses.every((single) => namesIssuer(single, issuerIds))
    ) {
      return 'OCSP: response verification failed (error: 0)';
    }
    // Mosquitto's loop: every single response must be good and current.
    for (const single of basic.responses) {
      if (single.status === 1) {
        return `OCSP: SSL certificate revocation reason: ${tableString(CRL_REASON, single.reason)} (${String(single.reason)})`;
      }
      if (single.status !== 0) {
        return `OCSP: SSL certificate status: ${tableString(CERT_STATUS, single.status)} (${String(single.status)})`;
      }
      const t = now.getTime();
      if (
        single.thisUpdate.getTime() > t + LEEWAY_MS ||
        (single.nextUpdate !== null &&
          (single.nextUpdate.getTime() < t - LEEWAY_MS || single.nextUpdate < single.thisUpdate))
      ) {
        return 'OCSP: OCSP response has expired';
      }
    }
    // Our addition (see the top): one of them must be about this certificate.
    const serial = certificateIds(certificate).serial;
    if (!basic.responses.some((single) => single.serial.equals(serial))) {
      return 'OCSP: response does not name the server certificate';
    }
    return null;
  } catch (error) {
    // d2i_OCSP_RESPONSE() / OCSP_response_get1_basic() failing: bytes that are not DER of
    // the expected shape. A certificate in the response that is not one is the same.
    if (error instanceof DerError || isCryptoParseError(error)) return 'OCSP: invalid response';
    throw error;
  }
}

function isCryptoParseError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_OSSL');
}
