/**
 * From the scanned settings to the library's ConnectOptions, as client_opts_set,
 * client_id_generate and client_connect do it, with their error messages. Notable
 * libmosquitto rules kept here:
 *
 * - TLS is on with --cafile/--capath, with --psk, with --tls-use-os-certs (also implied by
 *   mqtts:// URLs), and when the port given is 8883 and nothing else says otherwise;
 *   --cert/--key only count together with a CA.
 * - The default port is 8883 with --cafile/--capath/--psk, else 1883; port 0 means the
 *   host is a unix socket path (--unix).
 * - MQTT 5 CONNECTs always carry Receive Maximum (20, or -C's count when smaller).
 */
import { Buffer } from 'node:buffer';
import { accessSync, constants } from 'node:fs';
import type { ConnectOptions, TlsOptions } from '../client/options.ts';
import type { Properties } from '../protocol/packets.ts';
import { PORT_UNDEFINED, type ToolConfig } from './args/config.ts';
import { isValidUtf8Argument } from './args/topics.ts';
import { toProperties } from './args/properties.ts';

export type ClientOptionsResult =
  | { readonly ok: true; readonly options: ConnectOptions }
  /** `quietable`: printed with err_printf (suppressed by --quiet). Exit status 1. */
  | { readonly ok: false; readonly error: string; readonly quietable: boolean };

const fail = (error: string, quietable = true): ClientOptionsResult => ({
  ok: false,
  error,
  quietable,
});

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The port client_connect uses. */
export function effectivePort(cfg: ToolConfig): number {
  if (cfg.port !== PORT_UNDEFINED) return cfg.port;
  return cfg.cafile !== null || cfg.capath !== null || cfg.psk !== null ? 8883 : 1883;
}

export function buildClientOptions(cfg: ToolConfig, pid: number): ClientOptionsResult {
  const program = cfg.tool === 'pub' ? 'pub' : 'other';
  // client_id_generate, then mosquitto_new's checks.
  const id = cfg.idPrefix !== null ? `${cfg.idPrefix}${pid}` : cfg.id;
  if (id === '' || (id === null && !cfg.cleanSession)) {
    return fail(
      program === 'pub' ? 'Error: Invalid id.\n' : 'Error: Invalid id and/or clean_session.\n',
    );
  }
  if (id !== null && !isValidUtf8Argument(id)) return fail('');

  const version = cfg.protocolVersion;
  const options: {
    -readonly [K in keyof ConnectOptions]: ConnectOptions[K];
  } = {
    protocolVersion: version,
    cleanStart: cfg.cleanSession,
    keepalive: cfg.keepalive,
    maxInflight: cfg.maxInflight,
    // libmosquitto gives up on a silent broker when the keepalive runs out.
    connectTimeoutMs: cfg.keepalive * 1000,
  };
  if (id !== null) options.clientId = id;

  if (cfg.willTopic !== null) {
    const willProperties = cfg.properties.will;
    if (version !== 5 && willProperties.length > 0) return fail('Error: Problem setting will.\n');
    options.will = {
      topic: cfg.willTopic,
      payload: cfg.willPayload ?? '',
      qos: cfg.willQos as 0 | 1 | 2,
      retain: cfg.willRetain,
      properties: toProperties(willProperties),
    };
  }

  if (cfg.username !== null || cfg.password !== null) {
    const badUser = cfg.username !== null && !isValidUtf8Argument(cfg.username);
    if (badUser || (version !== 5 && cfg.password !== null && cfg.username === null)) {
      return fail('Error: Problem setting username and/or password.\n');
    }
    if (cfg.username !== null) options.username = cfg.username;
    if (cfg.password !== null) options.password = cfg.password;
  }

  const tlsResult = tlsOptions(cfg);
  if (typeof tlsResult === 'string') return fail(tlsResult);

  if (cfg.socks5Host !== null) {
    options.proxy = {
      host: cfg.socks5Host,
      port: cfg.socks5Port,
      ...(cfg.socks5Username === null ? {} : { username: cfg.socks5Username }),
      ...(cfg.socks5Password === null ? {} : { password: cfg.socks5Password }),
    };
  }
  if (cfg.tcpNodelay) options.noDelay = true;
  if (cfg.bindAddress !== null) options.localAddress = cfg.bindAddress;

  const port = effectivePort(cfg);
  if (port === 0) {
    options.unixPath = cfg.host ?? 'localhost';
  } else {
    options.host = cfg.host ?? 'localhost';
    options.port = port;
  }
  if (tlsResult !== null) options.tls = tlsResult;

  if (version === 5) {
    const connect: Properties = toProperties(cfg.properties.connect);
    const receiveMaximum = cfg.msgCount > 0 && cfg.msgCount < 20 ? cfg.msgCount : 20;
    options.properties =
      connect.receiveMaximum === undefined ? { ...connect, receiveMaximum } : connect;
  }
  return { ok: true, options };
}

/** The TLS part of client_opts_set: options, null for plain TCP, or an error line. */
function tlsOptions(cfg: ToolConfig): TlsOptions | null | string {
  if (cfg.keyform !== null && !/^(pem|engine)$/i.test(cfg.keyform)) {
    return "Error: Problem setting key form, it must be one of 'pem' or 'engine'.\n";
  }
  let tls: { -readonly [K in keyof TlsOptions]: TlsOptions[K] } | null = null;
  if (cfg.cafile !== null || cfg.capath !== null) {
    const keyIsFile = cfg.keyform === null || /^pem$/i.test(cfg.keyform);
    if (
      (cfg.cafile !== null && !readable(cfg.cafile)) ||
      (cfg.certfile !== null && !readable(cfg.certfile)) ||
      (cfg.keyfile !== null && keyIsFile && !readable(cfg.keyfile))
    ) {
      return 'Error: Problem setting TLS options: File not found.\n';
    }
    tls = {};
    if (cfg.cafile !== null) tls.caFile = cfg.cafile;
    if (cfg.capath !== null) tls.caPath = cfg.capath;
    if (cfg.certfile !== null) tls.certFile = cfg.certfile;
    if (cfg.keyfile !== null) tls.keyFile = cfg.keyfile;
  } else if (cfg.psk !== null) {
    const identity = cfg.pskIdentity ?? '';
    if (!/^[0-9a-fA-F]*$/.test(cfg.psk) || Buffer.byteLength(identity) > 65_535) {
      return 'Error: Problem setting TLS-PSK options.\n';
    }
    tls = { psk: { identity, hexKey: cfg.psk.length % 2 === 0 ? cfg.psk : `0${cfg.psk}` } };
  } else if (cfg.port === 8883) {
    tls = { useOsCerts: true };
  }
  if (cfg.tlsUseOsCerts) {
    tls ??= {};
    tls.useOsCerts = true;
  }
  if (cfg.insecure && tls !== null) tls.insecure = true;
  if (cfg.tlsEngine !== null) {
    // OpenSSL engines have no Node.js counterpart: report it as an engine OpenSSL lacks.
    return `Error: Problem setting TLS engine, is ${cfg.tlsEngine} a valid engine?\n`;
  }
  if (cfg.tlsVersion !== null && !/^tlsv1\.[123]$/i.test(cfg.tlsVersion)) {
    return 'Error: Problem setting TLS options, check the options are valid.\n';
  }
  if (tls !== null) {
    if (cfg.tlsAlpn !== null) tls.alpn = [cfg.tlsAlpn];
    if (cfg.tlsVersion !== null) {
      tls.version = cfg.tlsVersion.toLowerCase() as 'tlsv1.1' | 'tlsv1.2' | 'tlsv1.3';
    }
    if (cfg.ciphers !== null) tls.ciphers = cfg.ciphers;
  }
  return tls;
}
