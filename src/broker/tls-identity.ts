/**
 * What the broker asks of a listener's TLS without loading the TLS code (node:tls, the
 * certificate and CRL readers in tls-context.ts): whether the listener talks TLS at all,
 * and the username a TLS identity gives a client (use_identity_as_username /
 * use_subject_as_username). A broker whose listeners are plain TCP never loads node:tls.
 */
import { Utf8Problem, checkMqttString } from '../protocol/primitives.ts';
import type { Connection } from '../transport/connection.ts';
import type { ListenerConfig } from './config/types.ts';

/** Clients of this listener talk TLS: it has a certificate, or PSK (Mosquitto's ssl_ctx). */
export function listenerUsesTls(listener: ListenerConfig): boolean {
  const tlsConfig = listener.tls;
  return tlsConfig != null && (tlsConfig.certfile !== null || tlsConfig.pskHint !== null);
}

/**
 * The username TLS gives a client of this listener (handle_connect.c): with
 * use_identity_as_username or use_subject_as_username on a TLS listener, the CONNECT's
 * username and password are discarded and no password check follows.
 *
 * - undefined: the listener does not take usernames from TLS (authenticate as usual);
 * - null: refuse the client with CONNACK 4 (MQTT 5: 0x86 Bad user name or password):
 *   no certificate, no commonName, a commonName that is not valid MQTT UTF-8 or holds a
 *   NUL, or no PSK identity;
 * - a string: the username.
 */
export function tlsUsername(
  listener: ListenerConfig,
  connection: Connection,
): string | null | undefined {
  const config = listener.tls;
  if (config == null || !listenerUsesTls(listener)) return undefined;
  if (!config.useIdentityAsUsername && !config.useSubjectAsUsername) return undefined;
  const peer = connection.tlsPeer ?? null;
  if (peer === null) return null;
  if (config.pskHint !== null) {
    return config.useIdentityAsUsername ? peer.pskIdentity : null;
  }
  const certificate = peer.certificate;
  if (certificate === null) return null;
  if (config.useIdentityAsUsername) {
    const cn = certificate.commonName;
    if (cn === null || checkMqttString(cn) !== Utf8Problem.None) return null;
    return cn;
  }
  return certificate.subject;
}
