/**
 * What MqttClient.connect() takes. Everything has a default except where the broker is;
 * `url` is the short form (see url.ts), explicit fields override what it says.
 */
import type { Buffer } from 'node:buffer';
import type { Clock } from '../common/clock.ts';
import type { ProtocolVersion, QoS } from '../protocol/constants.ts';
import type { AuthPacket, ConnackPacket, Packet, Properties } from '../protocol/packets.ts';
import type { MqttClient } from './client.ts';
import type { MqttClientError } from './errors.ts';
import type { ReceivedMessage } from './message.ts';

export interface TlsOptions {
  /** Trusted CA certificates (PEM text or Buffers). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** A file of trusted CA certificates (PEM), as `--cafile`. */
  readonly caFile?: string;
  /** A directory of trusted CA certificates, as `--capath` (every PEM file in it). */
  readonly caPath?: string;
  /** Also trust the operating system's CA store (`--tls-use-os-certs`). */
  readonly useOsCerts?: boolean;
  readonly cert?: string | Buffer;
  readonly certFile?: string;
  readonly key?: string | Buffer;
  readonly keyFile?: string;
  /** Skip the host name check (never the chain check), as `--insecure`. */
  readonly insecure?: boolean;
  /** The lowest TLS version offered (`--tls-version`): 'tlsv1.3' | 'tlsv1.2' | 'tlsv1.1'. */
  readonly version?: 'tlsv1.3' | 'tlsv1.2' | 'tlsv1.1';
  /** An OpenSSL cipher list. */
  readonly ciphers?: string;
  /** ALPN protocol names. */
  readonly alpn?: readonly string[];
  /** TLS-PSK instead of certificates: the key in hexadecimal, and the identity. */
  readonly psk?: { readonly identity: string; readonly hexKey: string };
  /** The name to verify and send as SNI; default the host. */
  readonly servername?: string;
  /**
   * Ask for a stapled OCSP response and refuse the connection unless it is there, signed
   * for the server certificate's issuer, and says the certificate is good (as
   * MOSQ_OPT_TLS_OCSP_REQUIRED; a bridge's `bridge_require_ocsp`). TLS over TCP only.
   */
  readonly requireOcsp?: boolean;
}

export interface ProxyOptions {
  /** SOCKS5 with proxy-side name resolution (`socks5h://`). */
  readonly host: string;
  readonly port?: number;
  readonly username?: string;
  readonly password?: string;
}

export interface WillOptions {
  readonly topic: string;
  readonly payload?: string | Uint8Array;
  readonly qos?: QoS;
  readonly retain?: boolean;
  readonly properties?: Properties;
}

export interface ReconnectOptions {
  /** Delay before the first attempt after a loss (ms); default 1000, as libmosquitto. */
  readonly delayMs?: number;
  /** Upper bound when backing off (ms); default = delayMs (no backoff). */
  readonly maxDelayMs?: number;
  /** Re-send SUBSCRIBE for live subscriptions when the broker kept no session; default true. */
  readonly resubscribe?: boolean;
}

/**
 * Synchronous observers, called in protocol order as packets are handled. The command
 * line tools use them to print exactly when libmosquitto's callbacks would; applications
 * normally prefer the promises and async iterables.
 */
export interface ClientObserver {
  /**
   * Each accepted CONNACK (first connection and reconnections), before connect() resolves
   * and before anything queued is sent: the place to publish or subscribe "on connect".
   */
  connect?(connack: ConnackPacket, client: MqttClient): void;
  /** Each packet received, after the client handled it (acks sent, promises settled). */
  packet?(packet: Packet): void;
  /** Each received message, after its acknowledgement was sent (before iterators see it). */
  message?(message: ReceivedMessage): void;
  /** Each lost connection: null after an orderly close. */
  disconnect?(error: MqttClientError | null): void;
  /** libmosquitto's debug lines ("Client x sending CONNECT"). */
  log?(line: string): void;
}

export interface ConnectOptions {
  /** mqtt://, mqtts://, ws://, wss:// or unix:///path, with optional user:pass@. */
  readonly url?: string;
  readonly host?: string;
  /** Default 1883, 8883 with TLS, 80/443 for ws/wss. */
  readonly port?: number;
  /** Connect to a unix-domain socket instead of host/port. */
  readonly unixPath?: string;
  /** Enable TLS (true = defaults: the OS CA store). */
  readonly tls?: TlsOptions | boolean;
  /** MQTT over WebSockets: path of the URL (default '/mqtt'), extra headers. */
  readonly webSocket?:
    { readonly path?: string; readonly headers?: Readonly<Record<string, string>> } | boolean;
  readonly proxy?: ProxyOptions;
  /** Local address to bind (`-A`). */
  readonly localAddress?: string;
  /** TCP_NODELAY (`--nodelay`). */
  readonly noDelay?: boolean;

  /** 3 (MQTT 3.1), 4 (3.1.1) or 5 (default). */
  readonly protocolVersion?: ProtocolVersion;
  /**
   * Client identifier. Empty or absent: the broker assigns one (3.1.1 and 5); MQTT 3.1
   * requires one, so a random `mosq-` id is made, as libmosquitto does.
   */
  readonly clientId?: string;
  /** Clean Session (3.1.x) / Clean Start (5). Default true. */
  readonly cleanStart?: boolean;
  /** Seconds; 0 disables. Default 60. */
  readonly keepalive?: number;
  readonly username?: string;
  readonly password?: string | Uint8Array;
  readonly will?: WillOptions;
  /** CONNECT properties (MQTT 5), in the order given. */
  readonly properties?: Properties;
  /** Most QoS 1/2 publishes in flight at once (further ones wait); default 65535. */
  readonly maxInflight?: number;
  /** Give each new topic a topic alias while the broker allows (MQTT 5). Default false. */
  readonly autoTopicAlias?: boolean;
  /** Milliseconds to wait for CONNACK; default 30000. */
  readonly connectTimeoutMs?: number;
  /**
   * After a refused CONNACK, send DISCONNECT before closing, as libmosquitto clients that
   * call mosquitto_disconnect() in their connect callback do. Default false.
   */
  readonly disconnectOnRefusal?: boolean;
  /** Reconnect after a lost connection; default off. */
  readonly reconnect?: ReconnectOptions | boolean;
  /** Answers the broker's AUTH challenges (MQTT 5 enhanced authentication). */
  readonly authenticate?: (challenge: AuthPacket) => Promise<Properties> | Properties;
  readonly observer?: ClientObserver;
  /** Aborts the connection attempt. */
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
}
