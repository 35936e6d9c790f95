/**
 * How the tools report a failed connection or a broken session, and the exit status that
 * goes with it (client_connect, the connect callbacks, and the end of each main()):
 *
 * - the socket could not be opened: "Error: <strerror(errno)>" or
 *   "Unable to connect (<mosquitto_strerror>)." and status 1;
 * - CONNACK refused: "Connection error: <text>", then the loop's "Error: <text>", and the
 *   CONNACK code as status;
 * - anything later: "Error: <mosquitto_strerror>" and the libmosquitto error number.
 */
import type { ConnectionRefusedError } from '../client/errors.ts';
import type { ToolConfig } from './args/config.ts';
import type { ToolIo } from './io.ts';
import {
  ClientErrorCode,
  connackString,
  MosqErr,
  mosquittoStrerror,
  MqttClientError,
  reasonString,
} from '../client/errors.ts';

/** glibc's strerror() for the errno values a connection attempt can meet. */
const STRERROR: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  ECONNABORTED: 'Software caused connection abort',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ENOENT: 'No such file or directory',
  ENOTDIR: 'Not a directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  EINVAL: 'Invalid argument',
  EPIPE: 'Broken pipe',
  ENOTSOCK: 'Socket operation on non-socket',
  ENAMETOOLONG: 'File name too long',
};

function errnoText(error: MqttClientError): string {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  return STRERROR[code] ?? (typeof cause?.message === 'string' ? cause.message : error.message);
}

export interface Report {
  /** Lines for stderr, each printed with err_printf (--quiet hides them). */
  readonly lines: readonly string[];
  readonly status: number;
}

/** True for failures libmosquitto reports from client_connect (before the loop runs). */
export function isConnectFailure(error: unknown): boolean {
  return (
    error instanceof MqttClientError &&
    (error.code === ClientErrorCode.SocketError ||
      error.code === ClientErrorCode.LookupFailed ||
      error.code === ClientErrorCode.Tls)
  );
}

/** What client_connect prints when the connection cannot be made (status 1). */
export function connectFailureReport(error: MqttClientError): Report {
  const line =
    error.code === ClientErrorCode.SocketError
      ? `Error: ${errnoText(error)}\n`
      : `Unable to connect (${mosquittoStrerror(error.mosqErrno)}).\n`;
  return { lines: [line], status: 1 };
}

/** "Connection error: ..." as the connect callbacks print it. */
export function connectionErrorLine(
  error: ConnectionRefusedError,
  version: number,
  rr = false,
): string {
  // mosquitto_rr names every code with the MQTT 5 table, even for a 3.1.1 CONNACK.
  if (version !== 5 && !rr) return `Connection error: ${connackString(error.reasonCode)}\n`;
  const text = reasonString(error.reasonCode);
  if (error.reasonCode === 0x84) {
    return rr
      ? `Connection error: ${text}. mosquitto_rr only supports connecting to an MQTT v5 broker\n`
      : `Connection error: ${text}. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.\n`;
  }
  return `Connection error: ${text}\n`;
}

/**
 * The libmosquitto error a refused CONNACK ends the loop with (for mosquitto_pub; sub and
 * rr disconnect in their connect callback, which turns the loop's error into success): CONN_REFUSED for the
 * MQTT 3.1.x codes 1-5, PROTOCOL for MQTT 5 reason codes (handle__connack).
 */
export function refusalLoopError(error: ConnectionRefusedError): number {
  return error.reasonCode >= 1 && error.reasonCode <= 5 ? MosqErr.ConnRefused : MosqErr.Protocol;
}

/** "Error: <mosquitto_strerror>" for a loop that ended with `mosqErrno`. */
export function loopErrorLine(mosqErrno: number): string {
  return `Error: ${mosquittoStrerror(mosqErrno)}\n`;
}

const VERIFY_FAILED = 'OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed';

/**
 * The lines libmosquitto logs (and -d prints on stdout) when a TLS connection fails, for
 * the failures Node.js tells apart; none for the others.
 */
export function tlsDebugLines(
  error: MqttClientError,
  cafile: string | null,
  ciphers: string | null,
): string[] {
  if (error.code !== ClientErrorCode.Tls) return [];
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return ['Error: host name verification failed.', VERIFY_FAILED];
  }
  if (code === 'ERR_SSL_NO_CIPHER_MATCH') {
    return [
      `Error: Unable to set TLS ciphers. Check cipher list "${ciphers ?? ''}".`,
      'OpenSSL Error[0]: error:0A0000B9:SSL routines::no cipher match',
    ];
  }
  if (code === 'ERR_TLS_CA_FILE') {
    return [
      `Error: Unable to load CA certificates, check cafile "${cafile ?? ''}".`,
      'OpenSSL Error[0]: error:05800088:x509 certificate routines::no certificate or crl found',
    ];
  }
  if (
    typeof code === 'string' &&
    /^(UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|CERT_|INVALID_CA|PATH_LENGTH)/.test(code)
  ) {
    return [VERIFY_FAILED];
  }
  return [];
}

/** The libmosquitto error a failure ends the loop with (no CONNACK in time: keepalive). */
export function loopErrno(error: MqttClientError): number {
  return error.code === ClientErrorCode.ConnectTimeout ? MosqErr.Keepalive : error.mosqErrno;
}

/**
 * client_connect's failure path, shared by the tools: with -d the TLS debug lines on
 * stdout, then the error lines through `errPrintf` (which honours --quiet). Returns the
 * exit status.
 */
export function reportConnectFailure(
  error: MqttClientError,
  cfg: ToolConfig,
  io: ToolIo,
  errPrintf: (text: string) => void,
): number {
  if (cfg.debug) {
    for (const line of tlsDebugLines(error, cfg.cafile, cfg.ciphers)) io.out(`${line}\n`);
  }
  const report = connectFailureReport(error);
  for (const line of report.lines) errPrintf(line);
  return report.status;
}
