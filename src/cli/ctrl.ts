/**
 * mosquitto_ctrl (apps/mosquitto_ctrl of Mosquitto 2.0.22, with 2.1's `broker` module and
 * `-f <file>`): `mosquitto_ctrl [options] <module> <command> [args]`.
 *
 * Its option parser is its own (options.c), not the one of pub/sub/rr: options are read
 * up to the first word without a leading '-', then the options file (-o, or
 * $XDG_CONFIG_HOME/mosquitto_ctrl, or ~/.config/mosquitto_ctrl). Mosquitto ignores the
 * parser's result: after a bad option it carries on with the arguments it had left (the
 * count is reduced, the list is not advanced), which usually ends in "Module '-x' not
 * supported" or the usage text. We do the same.
 *
 * The request: connect (MQTT 5 by default), subscribe to the response topic, publish the
 * command when the SUBACK grants it, print the first message received and disconnect. No
 * correlation data; the loop gives up after 10 seconds without a word (status 0).
 */
import { MqttClient } from '../client/client.ts';
import { ConnectionRefusedError, MqttClientError, ReasonCodeError } from '../client/errors.ts';
import { connackString, mosquittoStrerror, reasonString } from '../client/errors.ts';
import { PacketType } from '../protocol/constants.ts';
import { atoi } from './args/c-numbers.ts';
import { initConfig, PORT_UNDEFINED, type ToolConfig } from './args/config.ts';
import { TOOLS_VERSION } from './args/help.ts';
import { readOptionsFile } from './args/options-file.ts';
import { parseProxyUrl } from './args/urls.ts';
import { buildClientOptions } from './client-options.ts';
import {
  brokerMain,
  dynsecMain,
  MOSQ_ERR_NOT_SUPPORTED,
  MOSQ_ERR_UNKNOWN,
  type ModuleResult,
} from './ctrl-dynsec.ts';
import { runShell, type ShellTerminal } from './ctrl-shell.ts';
import { processIo, type ToolIo } from './io.ts';
import { getPassword } from './passwd-prompt.ts';
import { connectFailureReport, isConnectFailure } from './report.ts';

/** How long the request loop runs at most (client.c: `start+10 > time(NULL)`). */
export const CTRL_TIMEOUT_MS = 10_000;

export interface CtrlConfig {
  readonly cfg: ToolConfig;
  /** -f (2.1): the dynsec file edited offline. */
  dataFile: string | null;
  optionsFile: string | null;
  /** True until ctrl_config_parse sets the default host ("localhost"). */
  hostUnset: boolean;
}

function usageText(): string {
  return (
    'mosquitto_ctrl is a tool for administering certain Mosquitto features.\n' +
    `mosquitto_ctrl version ${TOOLS_VERSION} running on libmosquitto ${TOOLS_VERSION}.\n` +
    '\nGeneral usage: mosquitto_ctrl <module> <module-command> <command-options>\n' +
    'For module specific help use: mosquitto_ctrl <module> help\n' +
    '\nModules available: dynsec\n' +
    '\nFor more information see:\n' +
    '    https://mosquitto.org/man/mosquitto_ctrl-1.html\n\n'
  );
}

/** Options taking a value, with the word their "no value" error uses. */
const VALUE_OPTIONS: ReadonlyMap<string, string> = new Map([
  ['-A', '-A argument given but no address specified'],
  ['--cafile', '--cafile argument given but no file specified'],
  ['--capath', '--capath argument given but no directory specified'],
  ['--cert', '--cert argument given but no file specified'],
  ['--ciphers', '--ciphers argument given but no ciphers specified'],
  ['-f', '-f argument given but no data file specified'],
  ['-h', '-h argument given but no host specified'],
  ['--host', '-h argument given but no host specified'],
  ['-i', '-i argument given but no id specified'],
  ['--id', '-i argument given but no id specified'],
  ['--key', '--key argument given but no file specified'],
  ['--keyform', '--keyform argument given but no keyform specified'],
  ['-L', '-L argument given but no URL specified'],
  ['--url', '-L argument given but no URL specified'],
  ['-o', '-o argument given but no options file specified'],
  ['-p', '-p argument given but no port specified'],
  ['--port', '-p argument given but no port specified'],
  ['-P', '-P argument given but no password specified'],
  ['--pw', '-P argument given but no password specified'],
  ['--proxy', '--proxy argument given but no proxy url specified'],
  ['--psk', '--psk argument given but no key specified'],
  ['--psk-identity', '--psk-identity argument given but no identity specified'],
  ['-q', '-q argument given but no QoS specified'],
  ['--qos', '-q argument given but no QoS specified'],
  ['--tls-alpn', '--tls-alpn argument given but no protocol specified'],
  ['--tls-engine', '--tls-engine argument given but no engine_id specified'],
  ['--tls-engine-kpass-sha1', '--tls-engine-kpass-sha1 argument given but no kpass sha1 specified'],
  ['--tls-version', '--tls-version argument given but no version specified'],
  ['-u', '-u argument given but no username specified'],
  ['--username', '-u argument given but no username specified'],
  ['--unix', '--unix argument given but no socket path specified'],
  ['-V', '--protocol-version argument given but no version specified'],
  ['--protocol-version', '--protocol-version argument given but no version specified'],
]);

/** -L mqtt[s]://[user[:password]@]host[:port]/topic, as options.c reads it. */
function applyUrl(ctrl: CtrlConfig, text: string, io: ToolIo): boolean {
  const cfg = ctrl.cfg;
  let url = text;
  if (url.slice(0, 7).toLowerCase() === 'mqtt://') {
    url = url.slice(7);
    cfg.port = 1883;
  } else if (url.slice(0, 8).toLowerCase() === 'mqtts://') {
    url = url.slice(8);
    cfg.port = 8883;
    cfg.tlsUseOsCerts = true;
  } else {
    io.err('Error: unsupported URL scheme.\n\n');
    return false;
  }
  const slash = url.indexOf('/');
  if (slash < 0) {
    io.err('Error: Invalid URL for -L argument specified - topic missing.\n');
    return false;
  }
  url = url.slice(0, slash);
  const at = url.indexOf('@');
  if (at >= 0) {
    const credentials = url.slice(0, at);
    const colon = credentials.indexOf(':');
    if (colon >= 0) {
      cfg.password = credentials.slice(colon + 1);
      cfg.username = credentials.slice(0, colon);
    } else cfg.username = credentials;
    url = url.slice(at + 1);
  }
  const colon = url.indexOf(':');
  if (colon >= 0) {
    cfg.port = atoi(url.slice(colon + 1));
    url = url.slice(0, colon);
  }
  cfg.host = url;
  return true;
}

/** One option with its value (null for flags); false after printing an error. */
function applyOption(
  ctrl: CtrlConfig,
  name: string,
  value: string | null,
  io: ToolIo,
): boolean | 'help' | 'version' {
  const cfg = ctrl.cfg;
  const v = value ?? '';
  switch (name) {
    case '-A':
      cfg.bindAddress = v;
      break;
    case '--cafile':
      cfg.cafile = v;
      break;
    case '--capath':
      cfg.capath = v;
      break;
    case '--cert':
      cfg.certfile = v;
      break;
    case '--ciphers':
      cfg.ciphers = v;
      break;
    case '-d':
    case '--debug':
      cfg.debug = true;
      break;
    case '-f':
      ctrl.dataFile = v;
      break;
    case '--help':
      return 'help';
    case '-h':
    case '--host':
      cfg.host = v;
      break;
    case '--insecure':
      cfg.insecure = true;
      break;
    case '-i':
    case '--id':
      cfg.id = v;
      break;
    case '--key':
      cfg.keyfile = v;
      break;
    case '--keyform':
      cfg.keyform = v;
      break;
    case '-L':
    case '--url':
      return applyUrl(ctrl, v, io);
    case '-o':
      ctrl.optionsFile = v;
      break;
    case '-p':
    case '--port':
      cfg.port = atoi(v);
      if (cfg.port < 0 || cfg.port > 65_535) {
        io.err(`Error: Invalid port given: ${cfg.port}\n`);
        return false;
      }
      break;
    case '-P':
    case '--pw':
      cfg.password = v;
      break;
    case '--proxy': {
      const proxy = parseProxyUrl(v);
      if (!proxy.ok) {
        io.err(proxy.error);
        return false;
      }
      cfg.socks5Host = proxy.host;
      cfg.socks5Port = proxy.port;
      cfg.socks5Username = proxy.username;
      cfg.socks5Password = proxy.password;
      break;
    }
    case '--psk':
      cfg.psk = v;
      break;
    case '--psk-identity':
      cfg.pskIdentity = v;
      break;
    case '-q':
    case '--qos':
      cfg.qos = atoi(v);
      if (cfg.qos < 0 || cfg.qos > 2) {
        io.err(`Error: Invalid QoS given: ${cfg.qos}\n`);
        return false;
      }
      break;
    case '--quiet':
      cfg.quiet = true;
      break;
    case '--tls-alpn':
      cfg.tlsAlpn = v;
      break;
    case '--tls-engine':
      cfg.tlsEngine = v;
      break;
    case '--tls-engine-kpass-sha1':
      cfg.tlsEngineKpassSha1 = v;
      break;
    case '--tls-use-os-certs':
      cfg.tlsUseOsCerts = true;
      break;
    case '--tls-version':
      cfg.tlsVersion = v;
      break;
    case '-u':
    case '--username':
      cfg.username = v;
      break;
    case '--unix':
      cfg.host = v;
      cfg.port = 0;
      break;
    case '-V':
    case '--protocol-version':
      if (v === 'mqttv31' || v === '31') cfg.protocolVersion = 3;
      else if (v === 'mqttv311' || v === '311') cfg.protocolVersion = 4;
      else if (v === 'mqttv5' || v === '5') cfg.protocolVersion = 5;
      else {
        io.err('Error: Invalid protocol version argument given.\n\n');
        return false;
      }
      break;
    case '-v':
    case '--verbose':
      cfg.verbose = true;
      break;
    case '--version':
      return 'version';
    default:
      io.err(`Error: Unknown option '${name}'.\n`);
      return false;
  }
  return true;
}

/**
 * client_config_line_proc: options from `words` up to the first non-option. Returns the
 * words left and whether all went well; on failure the words left are the original ones,
 * cut to the count Mosquitto had decremented to.
 */
function scanOptions(
  ctrl: CtrlConfig,
  words: readonly string[],
  io: ToolIo,
): { readonly rest: readonly string[]; readonly ok: boolean } {
  let i = 0;
  const failed = (): { rest: readonly string[]; ok: boolean } => ({
    rest: words.slice(0, words.length - i),
    ok: false,
  });
  while (i < words.length && (words[i] ?? '').startsWith('-')) {
    const name = words[i] ?? '';
    const takesValue = VALUE_OPTIONS.get(name);
    let value: string | null = null;
    if (takesValue !== undefined) {
      if (i + 1 === words.length) {
        io.err(`Error: ${takesValue}.\n\n`);
        return failed();
      }
      value = words[i + 1] ?? '';
    }
    const outcome = applyOption(ctrl, name, value, io);
    if (outcome !== true) return failed();
    if (value !== null) i++;
    i++;
  }
  return { rest: words.slice(i), ok: true };
}

function optionsFileLocation(ctrl: CtrlConfig, env: NodeJS.ProcessEnv): string | null {
  if (ctrl.optionsFile !== null) return ctrl.optionsFile;
  if (env.XDG_CONFIG_HOME !== undefined) return `${env.XDG_CONFIG_HOME}/mosquitto_ctrl`;
  if (env.HOME !== undefined) return `${env.HOME}/.config/mosquitto_ctrl`;
  return null;
}

/** ctrl_config_parse: the words after the options, with the configuration filled in. */
export function parseCtrlArguments(
  argv: readonly string[],
  io: ToolIo,
): { readonly ctrl: CtrlConfig; readonly rest: readonly string[] } {
  const cfg = initConfig('rr');
  cfg.qos = 1;
  cfg.port = PORT_UNDEFINED;
  cfg.protocolVersion = 5;
  cfg.keepalive = 60;
  const ctrl: CtrlConfig = { cfg, dataFile: null, optionsFile: null, hostUnset: true };
  const scanned = scanOptions(ctrl, argv, io);
  if (!scanned.ok) return { ctrl, rest: scanned.rest };
  const location = optionsFileLocation(ctrl, io.env);
  if (location !== null) {
    for (const line of readOptionsFile(location)) {
      // mosquitto_ctrl reads the value with strtok(NULL, " "): one word, not the rest.
      const value = (line[1] ?? '').replace(/^ +/, '').split(' ')[0] ?? '';
      const words = value === '' ? line.slice(0, 1) : [line[0] ?? '', value];
      if (!scanOptions(ctrl, words, io).ok) return { ctrl, rest: scanned.rest };
    }
  }
  const checks: readonly (readonly [boolean, string])[] = [
    [
      (cfg.certfile !== null) !== (cfg.keyfile !== null),
      'Error: Both certfile and keyfile must be provided if one of them is set.\n',
    ],
    [
      cfg.keyform !== null && cfg.keyfile === null,
      'Error: If keyform is set, keyfile must be also specified.\n',
    ],
    [
      cfg.tlsEngineKpassSha1 !== null && (cfg.keyform === null || cfg.tlsEngine === null),
      'Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must also be provided.\n',
    ],
    [
      (cfg.cafile !== null || cfg.capath !== null) && cfg.psk !== null,
      'Error: Only one of --psk or --cafile/--capath may be used at once.\n',
    ],
    [
      cfg.psk !== null && cfg.pskIdentity === null,
      'Error: --psk-identity required if --psk used.\n',
    ],
  ];
  for (const [bad, message] of checks) {
    if (bad) {
      io.err(message);
      return { ctrl, rest: scanned.rest };
    }
  }
  if (cfg.host === null) cfg.host = 'localhost';
  ctrl.hostUnset = false;
  return { ctrl, rest: scanned.rest };
}

/** Entry point of `mosquitto_ctrl`. */
export function main(argv: readonly string[]): Promise<number> {
  return runCtrl(argv, processIo(), {
    input: process.stdin,
    output: process.stdout,
    interactive: process.stdin.isTTY,
  });
}

/**
 * `terminal`: where the interactive shell (2.1) reads and writes. Without it, or when stdin
 * is not a terminal, no module means the usage text, as in 2.0; `shell` as the module
 * starts it anyway.
 */
export async function runCtrl(
  argv: readonly string[],
  io: ToolIo,
  terminal?: ShellTerminal,
): Promise<number> {
  if (argv.length === 0) {
    if (terminal?.interactive === true) return runShell(null, terminal, io);
    io.out(usageText());
    return 1;
  }
  const { ctrl, rest } = parseCtrlArguments(argv, io);
  if (terminal !== undefined && !ctrl.hostUnset) {
    const shellWord = rest.length === 1 && (rest[0] ?? '').toLowerCase() === 'shell';
    if (shellWord || (rest.length === 0 && terminal.interactive)) {
      // 2.1 connects at once when options were given; `shell` alone is the bare shell.
      return runShell(argv.length === 1 ? null : ctrl.cfg, terminal, io);
    }
  }
  if (rest.length < 2) {
    io.out(usageText());
    return 1;
  }
  const module = rest[0] ?? '';
  let result: ModuleResult;
  if (module.toLowerCase() === 'dynsec') {
    result = await dynsecMain(rest.slice(1), io, ctrl.dataFile);
  } else if (module.toLowerCase() === 'broker') {
    result = brokerMain(rest.slice(1), io);
  } else {
    io.err(`Error: Module '${module}' not supported.\n`);
    return MOSQ_ERR_NOT_SUPPORTED;
  }
  if (result.kind === 'rc') {
    if (result.rc < 0) return 0;
    if (result.rc === 0 || result.rc === MOSQ_ERR_UNKNOWN) return result.rc;
    io.err(`Error: ${mosquittoStrerror(result.rc)}\n`);
    return result.rc;
  }
  // 2.1: with -f, commands other than the offline ones do nothing.
  if (ctrl.dataFile !== null) return 0;
  return requestResponse(ctrl, result, io);
}

async function requestResponse(
  ctrl: CtrlConfig,
  request: Extract<ModuleResult, { kind: 'request' }>,
  io: ToolIo,
): Promise<number> {
  const cfg = ctrl.cfg;
  if (
    cfg.cafile === null &&
    cfg.capath === null &&
    !cfg.tlsUseOsCerts &&
    cfg.port !== 8883 &&
    cfg.psk === null
  ) {
    io.err(
      'Warning: You are running mosquitto_ctrl without encryption.\n' +
        'This means all of the configuration changes you are making are visible on the network, including passwords.\n\n',
    );
  }
  if (cfg.username !== null && cfg.password === null) {
    const got = await getPassword(`Password for ${cfg.username}: `, null, false);
    if (typeof got === 'number') {
      io.err('Error getting password.\n');
      return 1;
    }
    cfg.password = got.toString('utf8');
  }
  if (cfg.psk !== null && cfg.pskIdentity === null && cfg.cafile === null && cfg.capath === null) {
    // mosquitto_tls_psk_set() refuses a missing identity.
    io.err('Error: Problem setting TLS-PSK options.\n');
    return 1;
  }
  const built = buildClientOptions(cfg, io.pid);
  if (!built.ok) {
    if (built.error !== '') io.err(built.error);
    return 1;
  }
  if (ctrl.hostUnset) {
    // mosquitto_connect() without a host: the parser stopped before setting the default.
    io.err(`Unable to connect (${mosquittoStrerror(3)}).\n`);
    return 3;
  }
  return new Requester(ctrl, request, io).run(built.options);
}

class Requester {
  private client: MqttClient | null = null;
  private done = false;
  private resolveStatus: (status: number) => void = () => undefined;
  private readonly status = new Promise<number>((resolve) => {
    this.resolveStatus = resolve;
  });

  constructor(
    private readonly ctrl: CtrlConfig,
    private readonly request: Extract<ModuleResult, { kind: 'request' }>,
    private readonly io: ToolIo,
  ) {}

  async run(options: Parameters<typeof MqttClient.connect>[0]): Promise<number> {
    const cfg = this.ctrl.cfg;
    const abort = new AbortController();
    const timer = setTimeout(() => {
      abort.abort();
      this.finish(0);
    }, CTRL_TIMEOUT_MS);
    try {
      try {
        this.client = await MqttClient.connect({
          ...options,
          connectTimeoutMs: CTRL_TIMEOUT_MS,
          disconnectOnRefusal: true,
          signal: abort.signal,
          observer: {
            connect: (_connack, client) => {
              this.client = client;
              client
                .subscribe(this.request.responseTopic, { qos: cfg.qos as 0 | 1 | 2 })
                .catch(() => undefined);
            },
            packet: (packet) => {
              if (packet.type !== PacketType.Suback) return;
              if (packet.reasonCodes.length !== 1) {
                this.close();
                return;
              }
              const code = packet.reasonCodes[0] ?? 0x80;
              if (code < 128) {
                this.publish();
                return;
              }
              this.io.err(
                cfg.protocolVersion === 5
                  ? `Subscribe error: ${reasonString(code)}\n`
                  : 'Subscribe error: Subscription refused.\n',
              );
              this.close();
            },
            message: (message) => {
              if (this.done) return;
              this.request.onResponse(message.payload, this.io);
              this.close();
            },
          },
        });
      } catch (error) {
        const status = this.connectFailed(error);
        if (status >= 0) return status;
      }
      // A lost connection is not reported: the loop runs on until the 10 seconds are over.
      return await this.status;
    } finally {
      clearTimeout(timer);
    }
  }

  private connectFailed(error: unknown): number {
    if (this.done) return 0;
    this.done = true;
    if (error instanceof ConnectionRefusedError) {
      const code = error.reasonCode;
      if (this.ctrl.cfg.protocolVersion === 5) {
        this.io.err(
          code === 0x84
            ? `Connection error: ${reasonString(code)}. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.\n`
            : `Connection error: ${reasonString(code)}\n`,
        );
      } else {
        this.io.err(`Connection error: ${connackString(code)}\n`);
      }
      return 0;
    }
    if (error instanceof MqttClientError && isConnectFailure(error)) {
      const report = connectFailureReport(error);
      for (const line of report.lines) this.io.err(line);
      // client_connect returns libmosquitto's error (MOSQ_ERR_ERRNO for a socket error).
      return error.mosqErrno;
    }
    // Lost before the CONNACK: Mosquitto's loop keeps failing until the time is up.
    this.done = false;
    return -1;
  }

  private publish(): void {
    const client = this.client;
    if (client === null) return;
    client
      .publish(this.request.requestTopic, this.request.payload, {
        qos: this.ctrl.cfg.qos as 0 | 1 | 2,
      })
      .catch((error: unknown) => {
        if (error instanceof ReasonCodeError && error.reasonCode > 127) {
          this.io.err(`Publish error: ${reasonString(error.reasonCode)}\n`);
          this.close();
        }
      });
  }

  private finish(status: number): void {
    if (this.done) return;
    this.done = true;
    this.client?.destroy();
    this.resolveStatus(status);
  }

  /** mosquitto_disconnect_v5(mosq, 0, NULL), then the loop ends (status 0). */
  private close(): void {
    if (this.done) return;
    this.done = true;
    const client = this.client;
    const end = client === null ? Promise.resolve() : client.end({ reasonCode: 0 });
    void end
      .catch(() => undefined)
      .then(() => {
        this.resolveStatus(0);
      });
  }
}
