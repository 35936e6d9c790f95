/**
 * The listener rows of the option table (§1.2-§1.4): `listener`, the legacy `port` and
 * `bind_address` of the default listener, and the options that apply to the current
 * listener, TLS included.
 */
import { OptionError } from './errors.ts';
import type { ListenerDraft } from './draft.ts';
import { newListenerDraft } from './draft.ts';
import type { OptionSpec } from './option-spec.ts';
import { bool, custom, int, readInt, readString, str } from './option-spec.ts';
import { atoi, decodeBytes, isValidPublishTopic } from './values.ts';

const uint16 = 65535;

const PSK_AND_CERTIFICATE =
  'Error: Cannot use both certificate and psk encryption in a single listener.';

function rejectWithPskHint(listener: ListenerDraft): void {
  if (listener.tls.pskHint !== null) throw new OptionError(PSK_AND_CERTIFICATE);
}

/** The listener TLS options that are plain strings (§1.3, §1.4). */
const TLS_STRING_OPTIONS = [
  ['cafile', 'cafile', 'CA certificates for verifying client certificates.'],
  ['capath', 'capath', 'Directory of hashed CA certificates.'],
  ['certfile', 'certfile', 'Server certificate (PEM); enables TLS with keyfile.'],
  ['keyfile', 'keyfile', 'Server private key (PEM).'],
  ['ciphers', 'ciphers', 'OpenSSL cipher list for TLS 1.2 and lower.'],
  ['ciphers_tls1.3', 'ciphersTls13', 'TLS 1.3 cipher suites.'],
  ['crlfile', 'crlfile', 'Certificate revocation list for client certificates.'],
  ['dhparamfile', 'dhparamfile', 'Diffie-Hellman parameters.'],
  ['psk_hint', 'pskHint', 'Enables TLS-PSK on the listener, with this hint.'],
  ['tls_version', 'tlsVersion', 'Minimum TLS version.'],
] as const;

const TLS_BOOL_OPTIONS = [
  ['require_certificate', 'requireCertificate', 'Clients must present a valid certificate.'],
  ['use_identity_as_username', 'useIdentityAsUsername', 'Username := certificate CN/PSK id.'],
  ['use_subject_as_username', 'useSubjectAsUsername', 'Username := certificate subject.'],
] as const;

/** Node.js has no OpenSSL ENGINE support: a key held by an engine cannot be used. */
const NO_ENGINES =
  'Error: mosquitto-ts cannot use OpenSSL engines (Node.js does not support them); use a PEM keyfile.';

export const TLS_OPTIONS: readonly OptionSpec[] = [
  ...TLS_STRING_OPTIONS.map(([name, field, summary]) =>
    str({
      name,
      scope: 'listener',
      summary,
      label: name,
      ...(name === 'cafile' || name === 'certfile' ? { before: rejectWithPskHint } : {}),
      get: (l) => l.tls[field],
      set: (l, v) => {
        l.tls[field] = v;
      },
    }),
  ),
  ...TLS_BOOL_OPTIONS.map(([name, field, summary]) =>
    bool({
      name,
      scope: 'listener',
      summary,
      set: (l, v) => {
        l.tls[field] = v;
      },
    }),
  ),
  str({
    name: 'tls_engine',
    scope: 'listener',
    summary: 'OpenSSL engine for the private key (not supported: a config error).',
    get: (l) => l.tls.tlsEngine,
    set: () => {
      throw new OptionError(NO_ENGINES);
    },
  }),
  str({
    name: 'tls_engine_kpass_sha1',
    scope: 'listener',
    implemented: false,
    summary: 'SHA1 of the engine key password (engines are not supported).',
    get: (l) => l.tls.tlsEngineKpassSha1,
    set: (l, v) => {
      l.tls.tlsEngineKpassSha1 = v;
    },
  }),
  custom({
    name: 'tls_keyform',
    scope: 'listener',
    summary: 'pem (default) or engine (not supported: a config error).',
    run: (l, ctx) => {
      if (readString(ctx, 'tls_keyform', null) === 'engine') throw new OptionError(NO_ENGINES);
      l.tls.tlsKeyform = 'pem';
    },
  }),
  // mosquitto-ts's own option, not Mosquitto's (see DEVIATIONS.md).
  bool({
    name: 'tls_reload_on_change',
    scope: 'listener',
    summary:
      'mosquitto-ts extension: reload certfile/keyfile/cafile/crlfile when they change on disk.',
    set: (l, v) => {
      l.tls.reloadOnChange = v;
    },
  }),
];

export const LISTENER_OPTIONS: readonly OptionSpec[] = [
  custom({
    name: 'listener',
    scope: 'global',
    reloadable: false,
    summary: 'listener <port> [<bind address or host | unix socket path with port 0>]',
    run: (draft, ctx) => {
      draft.localOnly = false;
      const portToken = ctx.cursor.nextToken();
      if (portToken === null)
        throw new OptionError('Error: Empty listener value in configuration.');
      const port = atoi(portToken);
      if (port < 0 || port > uint16) throw new OptionError(`Error: Invalid port value (${port}).`);
      let address = ctx.cursor.nextToken();
      if (address?.startsWith('#')) address = null;
      if (port === 0 && address === null) {
        throw new OptionError('Error: A listener with port 0 must provide a Unix socket path.');
      }
      const listener = newListenerDraft(port);
      if (address !== null) {
        if (port === 0) listener.unixSocketPath = decodeBytes(address);
        else listener.host = decodeBytes(address);
      }
      draft.listeners.push(listener);
      ctx.file.listener = listener;
    },
  }),
  custom({
    name: 'port',
    scope: 'global',
    reloadable: false,
    summary: 'Deprecated: port of the default listener.',
    run: (draft, ctx) => {
      ctx.log(
        'notice',
        "The 'port' option is now deprecated and will be removed in a future version. Please use 'listener' instead.",
      );
      draft.localOnly = false;
      if (draft.defaultListener.port !== 0) {
        ctx.log(
          'warning',
          'Warning: Default listener port specified multiple times. Only the latest will be used.',
        );
      }
      const port = readInt(ctx, 'port');
      if (port < 1 || port > uint16) throw new OptionError(`Error: Invalid port value (${port}).`);
      draft.defaultListener.port = port;
    },
  }),
  custom({
    name: 'bind_address',
    scope: 'global',
    reloadable: false,
    summary: 'Deprecated: bind address of the default listener.',
    run: (draft, ctx) => {
      // Mosquitto's text, including its copy-paste slip ("default to true").
      ctx.log(
        'notice',
        "The 'bind_address' option is now deprecated and will be removed in a future version. The behaviour will default to true.",
      );
      draft.localOnly = false;
      const listener = draft.defaultListener;
      listener.host = readString(ctx, 'default listener bind_address', listener.host);
    },
  }),
  str({
    name: 'bind_interface',
    scope: 'listener',
    summary: "Bind the listener to a network interface's addresses.",
    get: (l) => l.bindInterface,
    set: (l, v) => {
      l.bindInterface = v;
    },
  }),
  custom({
    name: 'socket_domain',
    scope: 'listener',
    kind: 'token',
    summary: 'ipv4 or ipv6: restrict the listener to one address family.',
    run: (l, ctx) => {
      const token = ctx.cursor.nextToken();
      if (token === null) {
        throw new OptionError('Error: Empty socket_domain value in configuration.');
      }
      if (token !== 'ipv4' && token !== 'ipv6') {
        throw new OptionError(
          `Error: Invalid socket_domain value "${decodeBytes(token)}" in configuration.`,
        );
      }
      l.socketDomain = token;
    },
  }),
  custom({
    name: 'max_connections',
    scope: 'listener',
    kind: 'token',
    summary: 'Concurrent connections on this listener; -1 is unlimited.',
    run: (l, ctx) => {
      const token = ctx.cursor.nextToken();
      // Not fatal in Mosquitto: it logs the error and carries on.
      if (token === null) {
        ctx.log('error', 'Error: Empty max_connections value in configuration.');
        return;
      }
      const value = atoi(token);
      l.maxConnections = value < 0 ? -1 : value;
    },
  }),
  custom({
    name: 'mount_point',
    scope: 'listener',
    summary: 'Topic prefix isolating the clients of this listener.',
    run: (l, ctx) => {
      if (ctx.draft.listeners.length === 0) {
        throw new OptionError(
          'Error: You must use create a listener before using the mount_point option in the configuration file.',
        );
      }
      const value = readString(ctx, 'mount_point', l.mountPoint);
      if (!isValidPublishTopic(Buffer.from(value, 'utf8').toString('latin1'))) {
        throw new OptionError(
          `Error: Invalid mount_point '${value}'. Does it contain a wildcard character?`,
        );
      }
      l.mountPoint = value;
    },
  }),
  custom({
    name: 'protocol',
    scope: 'listener',
    kind: 'token',
    summary: 'mqtt (default), websockets or http_api (HTTP API and /metrics).',
    run: (l, ctx) => {
      const token = ctx.cursor.nextToken();
      if (token === null) {
        ctx.log('error', 'Error: Empty protocol value in configuration.');
        return;
      }
      if (token !== 'mqtt' && token !== 'websockets' && token !== 'http_api') {
        throw new OptionError(`Error: Invalid protocol value (${decodeBytes(token)}).`);
      }
      l.protocol = token;
    },
  }),
  str({
    name: 'http_dir',
    scope: 'listener',
    summary: 'Serve static files over HTTP on a websockets or http_api listener.',
    get: (l) => l.httpDir,
    set: (l, v) => {
      l.httpDir = v;
    },
  }),
  int({
    name: 'max_qos',
    aliases: ['maximum_qos'],
    scope: 'listener',
    summary: 'Highest QoS clients of this listener may use.',
    check: (v) =>
      v < 0 || v > 2 ? 'Error: max_qos must be between 0 and 2 inclusive.' : undefined,
    set: (l, v) => {
      l.maxQos = v === 0 ? 0 : v === 1 ? 1 : 2;
    },
  }),
  custom({
    name: 'max_topic_alias',
    scope: 'listener',
    kind: 'token',
    summary: 'Topic aliases a v5 client may use towards the broker (0 disables).',
    run: (l, ctx) => {
      const token = ctx.cursor.nextToken();
      if (token === null) {
        throw new OptionError('Error: Empty max_topic_alias value in configuration.');
      }
      const value = atoi(token);
      if (value < 0 || value > uint16) {
        throw new OptionError('Error: Invalid max_topic_alias value in configuration.');
      }
      l.maxTopicAlias = value;
    },
  }),
  bool({
    name: 'use_username_as_clientid',
    scope: 'listener',
    summary: 'Replace the client id with the username.',
    set: (l, v) => {
      l.useUsernameAsClientid = v;
    },
  }),
];
