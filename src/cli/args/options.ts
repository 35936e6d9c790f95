/**
 * Every option of mosquitto_pub, mosquitto_sub and mosquitto_rr (2.0, as built by Debian
 * and by default: TLS, TLS-PSK and SOCKS in, SRV out): one row each, with the names,
 * the tools that accept it, the exact error texts, what it sets, and its --help lines per
 * tool. The scanner (scan.ts), the usage text (help.ts) and the tests all read this table;
 * nothing else knows an option's name. Messages keep client_shared.c's newlines exactly.
 */
import { Buffer } from 'node:buffer';
import { atof, atoi, strtol } from './c-numbers.ts';
import { MessageMode, type Tool, type ToolConfig } from './config.ts';
import { checkFormat } from './format-check.ts';
import { scanProperty } from './properties.ts';
import { isValidPublishTopic, isValidSubscribeTopic, isValidUtf8Argument } from './topics.ts';
import { parseBrokerUrlArgument, parseProxyUrl } from './urls.ts';

/** What applying an option did: nothing to report, an error to print, or a mode switch. */
export type Outcome =
  null | { readonly error: string; readonly quietable?: boolean } | 'help' | 'version';

export interface OptionSpec {
  /** Short and long spellings, matched exactly (no bundling, no --name=value). */
  readonly names: readonly string[];
  /** Tools that accept it; the others answer "Error: Unknown option". */
  readonly tools: readonly Tool[];
  /** For options with one argument: the message when argv ends instead. */
  readonly missing?: string;
  /** Checked before the argument is looked at, as client_shared.c orders its tests. */
  readonly precheck?: (cfg: ToolConfig) => string | null;
  /** Applies the option; `value` is '' for flags. */
  readonly apply: (cfg: ToolConfig, value: string) => Outcome;
  /** Consumes a variable number of words (only -D); returns the last index used. */
  readonly scan?: (
    cfg: ToolConfig,
    argv: readonly string[],
    index: number,
  ) => { next: number } | { error: string };
  /** Its lines in each tool's --help (absent: not listed there). */
  readonly help: Partial<Record<Tool, readonly string[]>>;
}

const ALL: readonly Tool[] = ['pub', 'sub', 'rr'];
const PUB: readonly Tool[] = ['pub'];
const SUB: readonly Tool[] = ['sub'];
const RR: readonly Tool[] = ['rr'];
const PUB_RR: readonly Tool[] = ['pub', 'rr'];
const SUB_RR: readonly Tool[] = ['sub', 'rr'];

const error = (text: string): Outcome => ({ error: text });
const missing = (flag: string, what: string): string =>
  `Error: ${flag} argument given but no ${what} specified.\n\n`;

/** The same help lines in every listed tool. */
function helpIn(
  tools: readonly Tool[],
  ...lines: string[]
): Partial<Record<Tool, readonly string[]>> {
  const out: Partial<Record<Tool, readonly string[]>> = {};
  for (const tool of tools) out[tool] = lines;
  return out;
}

const ONLY_ONE_MESSAGE = 'Error: Only one type of message can be sent at once.\n\n';
const onlyOneMessage = (cfg: ToolConfig): string | null =>
  cfg.pubMode === MessageMode.None ? null : ONLY_ONE_MESSAGE;

/** Largest payload MQTT can carry (MQTT_MAX_PAYLOAD). */
export const MQTT_MAX_PAYLOAD = 268_435_455;

/** cfg_add_topic: where a topic argument goes, per tool, with its checks. */
function addTopic(cfg: ToolConfig, kind: Tool | 'response', topic: string, arg: string): Outcome {
  if (!isValidUtf8Argument(topic)) return error(`Error: Malformed UTF-8 in ${arg} argument.\n\n`);
  if (kind === 'pub' || kind === 'rr') {
    if (!isValidPublishTopic(topic)) {
      return error(`Error: Invalid publish topic '${topic}', does it contain '+' or '#'?\n`);
    }
    cfg.topic = topic;
  } else if (kind === 'response') {
    if (!isValidPublishTopic(topic)) {
      return error(`Error: Invalid response topic '${topic}', does it contain '+' or '#'?\n`);
    }
    cfg.responseTopic = topic;
  } else {
    if (!isValidSubscribeTopic(topic)) {
      return error(
        `Error: Invalid subscription topic '${topic}', are all '+' and '#' wildcards correct?\n`,
      );
    }
    cfg.topics.push(topic);
  }
  return null;
}

const TLS_VERSION_HELP = [
  ' --tls-version : TLS protocol version, can be one of tlsv1.3 tlsv1.2 or tlsv1.1.',
  '                 Defaults to tlsv1.2 if available.',
];
const INSECURE_HELP = [
  ' --insecure : do not check that the server certificate hostname matches the remote',
  '              hostname. Using this option means that you cannot be sure that the',
  '              remote host is the server you wish to connect to and so is insecure.',
  '              Do not use this option in a production environment.',
];
const CAFILE_HELP_SUB = [
  ' --cafile : path to a file containing trusted CA certificates to enable encrypted',
  '            certificate based communication.',
];
const V_HELP = [
  ' -V : specify the version of the MQTT protocol to use when connecting.',
  '      Can be mqttv5, mqttv311 or mqttv31. Defaults to mqttv311.',
];

export const OPTIONS: readonly OptionSpec[] = [
  {
    names: ['-A'],
    tools: ALL,
    missing: missing('-A', 'address'),
    apply: (cfg, v) => {
      cfg.bindAddress = v;
      return null;
    },
    help: helpIn(
      ALL,
      ' -A : bind the outgoing socket to this host/ip address. Use to control which interface',
      '      the client communicates over.',
    ),
  },
  {
    names: ['--cafile'],
    tools: ALL,
    missing: missing('--cafile', 'file'),
    apply: (cfg, v) => {
      cfg.cafile = v;
      return null;
    },
    help: {
      pub: [
        ' --cafile : path to a file containing trusted CA certificates to enable encrypted',
        '            communication.',
      ],
      sub: CAFILE_HELP_SUB,
      rr: CAFILE_HELP_SUB,
    },
  },
  {
    names: ['--capath'],
    tools: ALL,
    missing: missing('--capath', 'directory'),
    apply: (cfg, v) => {
      cfg.capath = v;
      return null;
    },
    help: helpIn(
      ALL,
      ' --capath : path to a directory containing trusted CA certificates to enable encrypted',
      '            communication.',
    ),
  },
  {
    names: ['--cert'],
    tools: ALL,
    missing: missing('--cert', 'file'),
    apply: (cfg, v) => {
      cfg.certfile = v;
      return null;
    },
    help: helpIn(ALL, ' --cert : client certificate for authentication, if required by server.'),
  },
  {
    names: ['--ciphers'],
    tools: ALL,
    missing: missing('--ciphers', 'ciphers'),
    apply: (cfg, v) => {
      cfg.ciphers = v;
      return null;
    },
    help: helpIn(ALL, ' --ciphers : openssl compatible list of TLS ciphers to support.'),
  },
  {
    names: ['-C'],
    tools: SUB,
    missing: missing('-C', 'count'),
    apply: (cfg, v) => {
      cfg.msgCount = atoi(v);
      return cfg.msgCount < 1 ? error(`Error: Invalid message count "${cfg.msgCount}".\n\n`) : null;
    },
    help: helpIn(SUB, " -C : disconnect and exit after receiving the 'msg_count' messages."),
  },
  {
    names: ['-c', '--disable-clean-session'],
    tools: ALL,
    apply: (cfg) => {
      cfg.cleanSession = false;
      return null;
    },
    help: helpIn(
      ALL,
      ' -c : disable clean session/enable persistent client mode',
      '      When this argument is used, the broker will be instructed not to clean existing sessions',
      '      for the same client id when the client connects, and sessions will never expire when the',
      '      client disconnects. MQTT v5 clients can change their session expiry interval with the -x',
      '      argument.',
    ),
  },
  {
    names: ['-d', '--debug'],
    tools: ALL,
    apply: (cfg) => {
      cfg.debug = true;
      return null;
    },
    help: helpIn(ALL, ' -d : enable debug messages.'),
  },
  {
    names: ['-D', '--property'],
    tools: ALL,
    scan: (cfg, argv, index) => {
      const result = scanProperty(cfg, argv, index + 1);
      if ('next' in result) cfg.protocolVersion = 5;
      return result;
    },
    apply: () => null,
    help: helpIn(ALL, ' -D : Define MQTT v5 properties. See the documentation for more details.'),
  },
  {
    names: ['-e'],
    tools: RR,
    missing: missing('-e', 'response topic'),
    apply: (cfg, v) => addTopic(cfg, 'response', v, '-e'),
    help: helpIn(
      RR,
      ' -e : Response topic. The client will subscribe to this topic to wait for a response.',
    ),
  },
  {
    names: ['-E'],
    tools: SUB,
    apply: (cfg) => {
      cfg.exitAfterSub = true;
      return null;
    },
    help: helpIn(SUB, ' -E : Exit once all subscriptions have been acknowledged by the broker.'),
  },
  {
    names: ['-f', '--file'],
    tools: PUB_RR,
    precheck: onlyOneMessage,
    missing: missing('-f', 'file'),
    apply: (cfg, v) => {
      cfg.pubMode = MessageMode.File;
      cfg.fileInput = v;
      return null;
    },
    help: helpIn(PUB, ' -f : send the contents of a file as the message.'),
  },
  {
    names: ['-F'],
    tools: SUB_RR,
    missing: missing('-F', 'format'),
    apply: (cfg, v) => {
      cfg.format = v;
      const problem = checkFormat(v);
      return problem === null ? null : error(problem);
    },
    help: helpIn(SUB_RR, ' -F : output format.'),
  },
  {
    names: ['--help'],
    tools: ALL,
    apply: () => 'help',
    help: helpIn(ALL, ' --help : display this message.'),
  },
  {
    names: ['-h', '--host'],
    tools: ALL,
    missing: missing('-h', 'host'),
    apply: (cfg, v) => {
      cfg.host = v;
      return null;
    },
    help: helpIn(ALL, ' -h : mqtt host to connect to. Defaults to localhost.'),
  },
  {
    names: ['--insecure'],
    tools: ALL,
    apply: (cfg) => {
      cfg.insecure = true;
      return null;
    },
    help: helpIn(ALL, ...INSECURE_HELP),
  },
  {
    names: ['-i', '--id'],
    tools: ALL,
    precheck: (cfg) =>
      cfg.idPrefix === null ? null : 'Error: -i and -I argument cannot be used together.\n\n',
    missing: missing('-i', 'id'),
    apply: (cfg, v) => {
      cfg.id = v;
      return null;
    },
    help: {
      pub: [
        ' -i : id to use for this client. Defaults to mosquitto_pub_ appended with the process id.',
      ],
      sub: [
        ' -i : id to use for this client. Defaults to mosquitto_sub_ appended with the process id.',
      ],
      rr: [
        ' -i : id to use for this client. Defaults to mosquitto_rr_ appended with the process id.',
      ],
    },
  },
  {
    names: ['-I', '--id-prefix'],
    tools: ALL,
    precheck: (cfg) =>
      cfg.id === null ? null : 'Error: -i and -I argument cannot be used together.\n\n',
    missing: missing('-I', 'id prefix'),
    apply: (cfg, v) => {
      cfg.idPrefix = v;
      return null;
    },
    help: helpIn(
      ['pub', 'sub'],
      ' -I : define the client id as id_prefix appended with the process id. Useful for when the',
      '      broker is using the clientid_prefixes option.',
    ),
  },
  {
    names: ['-k', '--keepalive'],
    tools: ALL,
    missing: missing('-k', 'keepalive'),
    apply: (cfg, v) => {
      cfg.keepalive = atoi(v);
      return cfg.keepalive < 5 || cfg.keepalive > 65_535
        ? error('Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n')
        : null;
    },
    help: helpIn(ALL, ' -k : keep alive in seconds for this client. Defaults to 60.'),
  },
  {
    names: ['--key'],
    tools: ALL,
    missing: missing('--key', 'file'),
    apply: (cfg, v) => {
      cfg.keyfile = v;
      return null;
    },
    help: helpIn(ALL, ' --key : client private key for authentication, if required by server.'),
  },
  {
    names: ['--keyform'],
    tools: ALL,
    missing: missing('--keyform', 'keyform'),
    apply: (cfg, v) => {
      cfg.keyform = v;
      return null;
    },
    help: helpIn(['pub', 'sub'], ' --keyform : keyfile type, can be either "pem" or "engine".'),
  },
  {
    names: ['-L', '--url'],
    tools: ALL,
    missing: missing('-L', 'URL'),
    apply: (cfg, v) => {
      const url = parseBrokerUrlArgument(v);
      if (!url.ok) return error(url.error);
      cfg.port = url.port;
      if (url.tls) cfg.tlsUseOsCerts = true;
      const problem = addTopic(cfg, cfg.tool, url.topic, '-L topic');
      if (problem !== null) return problem;
      if (url.username !== null) cfg.username = url.username;
      if (url.password !== null) cfg.password = url.password;
      cfg.host = url.host;
      return null;
    },
    help: helpIn(
      ALL,
      ' -L : specify user, password, hostname, port and topic as a URL in the form:',
      '      mqtt(s)://[username[:password]@]host[:port]/topic',
    ),
  },
  {
    names: ['-l', '--stdin-line'],
    tools: PUB,
    precheck: onlyOneMessage,
    apply: (cfg) => {
      cfg.pubMode = MessageMode.StdinLine;
      return null;
    },
    help: helpIn(PUB, ' -l : read messages from stdin, sending a separate message for each line.'),
  },
  {
    names: ['-m', '--message'],
    tools: PUB_RR,
    precheck: onlyOneMessage,
    missing: missing('-m', 'message'),
    apply: (cfg, v) => {
      const bytes = Buffer.from(v, 'utf8');
      if (bytes.length > MQTT_MAX_PAYLOAD) {
        return error(`Error: Message length must be less than ${MQTT_MAX_PAYLOAD} bytes.\n\n`);
      }
      cfg.message = bytes;
      cfg.pubMode = MessageMode.Cmd;
      return null;
    },
    help: helpIn(PUB, ' -m : message payload to send.'),
  },
  {
    names: ['-M'],
    tools: ALL,
    missing: 'Error: -M argument given but max_inflight not specified.\n\n',
    apply: (cfg, v) => {
      const n = atoi(v);
      if (n < 1) return error('Error: Maximum inflight messages must be greater than 0.\n\n');
      cfg.maxInflight = n;
      return null;
    },
    help: helpIn(PUB, ' -M : the maximum inflight messages for QoS 1/2..'),
  },
  {
    names: ['--nodelay'],
    tools: ALL,
    apply: (cfg) => {
      cfg.tcpNodelay = true;
      return null;
    },
    help: helpIn(
      ALL,
      " --nodelay : disable Nagle's algorithm, to reduce socket sending latency at the possible",
      '             expense of more packets being sent.',
    ),
  },
  {
    names: ['-n', '--null-message'],
    tools: PUB_RR,
    precheck: onlyOneMessage,
    apply: (cfg) => {
      cfg.pubMode = MessageMode.Null;
      return null;
    },
    help: helpIn(PUB, ' -n : send a null (zero length) message.'),
  },
  {
    names: ['-N'],
    tools: SUB_RR,
    apply: (cfg) => {
      cfg.eol = false;
      return null;
    },
    help: helpIn(SUB_RR, ' -N : do not add an end of line character when printing the payload.'),
  },
  {
    names: ['-p', '--port'],
    tools: ALL,
    missing: missing('-p', 'port'),
    apply: (cfg, v) => {
      cfg.port = atoi(v);
      return cfg.port < 0 || cfg.port > 65_535
        ? error(`Error: Invalid port given: ${cfg.port}\n`)
        : null;
    },
    help: helpIn(
      ALL,
      ' -p : network port to connect to. Defaults to 1883 for plain MQTT and 8883 for MQTT over TLS.',
    ),
  },
  {
    names: ['--pretty'],
    tools: SUB_RR,
    apply: (cfg) => {
      cfg.pretty = true;
      return null;
    },
    help: helpIn(
      SUB_RR,
      ' --pretty : print formatted output rather than minimised output when using the',
      '            JSON output format option.',
    ),
  },
  {
    names: ['-P', '--pw'],
    tools: ALL,
    missing: missing('-P', 'password'),
    apply: (cfg, v) => {
      cfg.password = v;
      return null;
    },
    help: helpIn(ALL, ' -P : provide a password'),
  },
  {
    names: ['--proxy'],
    tools: ALL,
    missing: missing('--proxy', 'proxy url'),
    apply: (cfg, v) => {
      const proxy = parseProxyUrl(v);
      if (!proxy.ok) return { error: proxy.error, quietable: true };
      cfg.socks5Host = proxy.host;
      cfg.socks5Port = proxy.port;
      cfg.socks5Username = proxy.username;
      cfg.socks5Password = proxy.password;
      return null;
    },
    help: helpIn(
      ALL,
      ' --proxy : SOCKS5 proxy URL of the form:',
      '           socks5h://[username[:password]@]hostname[:port]',
      '           Only "none" and "username" authentication is supported.',
    ),
  },
  {
    names: ['--psk'],
    tools: ALL,
    missing: missing('--psk', 'key'),
    apply: (cfg, v) => {
      cfg.psk = v;
      return null;
    },
    help: helpIn(
      ALL,
      ' --psk : pre-shared-key in hexadecimal (no leading 0x) to enable TLS-PSK mode.',
    ),
  },
  {
    names: ['--psk-identity'],
    tools: ALL,
    missing: missing('--psk-identity', 'identity'),
    apply: (cfg, v) => {
      cfg.pskIdentity = v;
      return null;
    },
    help: helpIn(ALL, ' --psk-identity : client identity string for TLS-PSK mode.'),
  },
  {
    names: ['-q', '--qos'],
    tools: ALL,
    missing: missing('-q', 'QoS'),
    apply: (cfg, v) => {
      cfg.qos = atoi(v);
      return cfg.qos < 0 || cfg.qos > 2 ? error(`Error: Invalid QoS given: ${cfg.qos}\n`) : null;
    },
    help: {
      pub: [' -q : quality of service level to use for all messages. Defaults to 0.'],
      sub: [' -q : quality of service level to use for the subscription. Defaults to 0.'],
      rr: [' -q : quality of service level to use for communications. Defaults to 0.'],
    },
  },
  {
    names: ['--quiet'],
    tools: ALL,
    apply: (cfg) => {
      cfg.quiet = true;
      return null;
    },
    help: helpIn(ALL, " --quiet : don't print error messages."),
  },
  {
    names: ['-r', '--retain'],
    tools: PUB,
    apply: (cfg) => {
      cfg.retain = true;
      return null;
    },
    help: helpIn(PUB, ' -r : message should be retained.'),
  },
  {
    names: ['-R'],
    tools: SUB_RR,
    apply: (cfg) => {
      cfg.noRetain = true;
      cfg.subOpts |= 0x20; // MQTT_SUB_OPT_SEND_RETAIN_NEVER
      return null;
    },
    help: helpIn(SUB_RR, ' -R : do not print stale messages (those with retain set).'),
  },
  {
    names: ['--random-filter'],
    tools: SUB,
    missing: missing('--random-filter', 'chance'),
    apply: (cfg, v) => {
      cfg.randomFilter = Math.trunc(10.0 * atof(v));
      return cfg.randomFilter > 10_000 || cfg.randomFilter < 1 || Number.isNaN(cfg.randomFilter)
        ? error('Error: --random-filter chance must be between 0.1-100.0\n\n')
        : null;
    },
    help: helpIn(
      SUB,
      ' --random-filter : only print a percentage of received messages. Set to 100 to have all',
      '                   messages printed, 50.0 to have half of the messages received on average',
      '                   printed, and so on.',
    ),
  },
  {
    names: ['--remove-retained'],
    tools: SUB,
    apply: (cfg) => {
      cfg.removeRetained = true;
      return null;
    },
    help: helpIn(
      SUB,
      ' --remove-retained : send a message to the server to clear any received retained messages',
      '                     Use -T to filter out messages you do not want to be cleared.',
    ),
  },
  {
    names: ['--repeat'],
    tools: PUB,
    missing: missing('--repeat', 'count'),
    apply: (cfg, v) => {
      cfg.repeatCount = atoi(v);
      return cfg.repeatCount < 1 ? error('Error: --repeat argument must be >0.\n\n') : null;
    },
    help: helpIn(
      PUB,
      ' --repeat : if publish mode is -f, -m, or -s, then repeat the publish N times.',
    ),
  },
  {
    names: ['--repeat-delay'],
    tools: PUB,
    missing: missing('--repeat-delay', 'time'),
    apply: (cfg, v) => {
      const seconds = Math.fround(atof(v));
      if (seconds < 0) return error('Error: --repeat-delay argument must be >=0.0.\n\n');
      cfg.repeatDelayUs = Math.trunc(Math.fround(seconds * 1e6));
      return null;
    },
    help: helpIn(
      PUB,
      ' --repeat-delay : if using --repeat, wait time seconds between publishes. Defaults to 0.',
    ),
  },
  {
    names: ['--retain-as-published'],
    tools: SUB_RR,
    apply: (cfg) => {
      cfg.subOpts |= 0x08; // MQTT_SUB_OPT_RETAIN_AS_PUBLISHED
      return null;
    },
    help: {},
  },
  {
    names: ['--retained-only'],
    tools: SUB,
    apply: (cfg) => {
      cfg.retainedOnly = true;
      return null;
    },
    help: helpIn(
      SUB,
      ' --retained-only : only handle messages with the retained flag set, and exit when the',
      '                   first non-retained message is received.',
    ),
  },
  {
    names: ['-s', '--stdin-file'],
    tools: PUB_RR,
    precheck: onlyOneMessage,
    apply: (cfg) => {
      cfg.pubMode = MessageMode.StdinFile;
      return null;
    },
    help: helpIn(PUB, ' -s : read message from stdin, sending the entire input as a message.'),
  },
  {
    names: ['-t', '--topic'],
    tools: ALL,
    missing: missing('-t', 'topic'),
    apply: (cfg, v) => addTopic(cfg, cfg.tool, v, '-t'),
    help: {
      pub: [' -t : mqtt topic to publish to.'],
      sub: [' -t : mqtt topic to subscribe to. May be repeated multiple times.'],
      rr: [' -t : topic where the request message will be sent.'],
    },
  },
  {
    names: ['-T', '--filter-out'],
    tools: SUB,
    missing: missing('-T', 'topic filter'),
    apply: (cfg, v) => {
      if (!isValidUtf8Argument(v)) return error('Error: Malformed UTF-8 in -T argument.\n\n');
      if (!isValidSubscribeTopic(v)) {
        return error(
          `Error: Invalid filter topic '${v}', are all '+' and '#' wildcards correct?\n`,
        );
      }
      cfg.filterOuts.push(v);
      return null;
    },
    help: helpIn(SUB, ' -T : topic string to filter out of results. May be repeated.'),
  },
  {
    names: ['--tls-alpn'],
    tools: ALL,
    missing: missing('--tls-alpn', 'protocol'),
    apply: (cfg, v) => {
      cfg.tlsAlpn = v;
      return null;
    },
    help: {},
  },
  {
    names: ['--tls-engine'],
    tools: ALL,
    missing: missing('--tls-engine', 'engine_id'),
    apply: (cfg, v) => {
      cfg.tlsEngine = v;
      return null;
    },
    help: {
      pub: [' --tls-engine : If set, enables the use of a TLS engine device.'],
      sub: [' --tls-engine : If set, enables the use of a SSL engine device.'],
    },
  },
  {
    names: ['--tls-engine-kpass-sha1'],
    tools: ALL,
    missing: missing('--tls-engine-kpass-sha1', 'kpass sha1'),
    apply: (cfg, v) => {
      cfg.tlsEngineKpassSha1 = v;
      return null;
    },
    help: helpIn(
      ['pub', 'sub'],
      ' --tls-engine-kpass-sha1 : SHA1 of the key password to be used with the selected SSL engine.',
    ),
  },
  {
    names: ['--tls-use-os-certs'],
    tools: ALL,
    apply: (cfg) => {
      cfg.tlsUseOsCerts = true;
      return null;
    },
    help: helpIn(ALL, ' --tls-use-os-certs : Load and trust OS provided CA certificates.'),
  },
  {
    names: ['--tls-version'],
    tools: ALL,
    missing: missing('--tls-version', 'version'),
    apply: (cfg, v) => {
      cfg.tlsVersion = v;
      return null;
    },
    help: helpIn(ALL, ...TLS_VERSION_HELP),
  },
  {
    names: ['-U', '--unsubscribe'],
    tools: SUB,
    missing: missing('-U', 'unsubscribe topic'),
    apply: (cfg, v) => {
      if (!isValidUtf8Argument(v)) return error('Error: Malformed UTF-8 in -U argument.\n\n');
      if (!isValidSubscribeTopic(v)) {
        return error(
          `Error: Invalid unsubscribe topic '${v}', are all '+' and '#' wildcards correct?\n`,
        );
      }
      cfg.unsubTopics.push(v);
      return null;
    },
    help: helpIn(SUB, ' -U : unsubscribe from a topic. May be repeated.'),
  },
  {
    names: ['-u', '--username'],
    tools: ALL,
    missing: missing('-u', 'username'),
    apply: (cfg, v) => {
      cfg.username = v;
      return null;
    },
    help: helpIn(ALL, ' -u : provide a username'),
  },
  {
    names: ['--unix'],
    tools: ALL,
    missing: missing('--unix', 'socket path'),
    apply: (cfg, v) => {
      cfg.host = v;
      cfg.port = 0;
      return null;
    },
    help: helpIn(
      ALL,
      ' --unix : connect to a broker through a unix domain socket instead of a TCP socket,',
      '          e.g. /tmp/mosquitto.sock',
    ),
  },
  {
    names: ['-V', '--protocol-version'],
    tools: ALL,
    missing: missing('--protocol-version', 'version'),
    apply: (cfg, v) => {
      if (v === 'mqttv31' || v === '31') cfg.protocolVersion = 3;
      else if (v === 'mqttv311' || v === '311') cfg.protocolVersion = 4;
      else if (v === 'mqttv5' || v === '5') cfg.protocolVersion = 5;
      else return error('Error: Invalid protocol version argument given.\n\n');
      return null;
    },
    help: {
      pub: V_HELP,
      sub: V_HELP,
      rr: [
        ' -V : specify the version of the MQTT protocol to use when connecting.',
        '      Defaults to 5.',
      ],
    },
  },
  {
    names: ['-v', '--verbose'],
    tools: SUB_RR,
    apply: (cfg) => {
      cfg.verbose = true;
      return null;
    },
    help: {
      sub: [' -v : print published messages verbosely.'],
      rr: [' -v : print received messages verbosely.'],
    },
  },
  {
    names: ['--version'],
    tools: ALL,
    apply: () => 'version',
    help: {},
  },
  {
    names: ['-W'],
    tools: SUB_RR,
    missing: missing('-W', 'timeout'),
    apply: (cfg, v) => {
      const n = atoi(v);
      if (n < 1) return error(`Error: Invalid timeout "${n}".\n\n`);
      cfg.timeout = n;
      return null;
    },
    help: {
      sub: [' -W : Specifies a timeout in seconds how long to process incoming MQTT messages.'],
      rr: [' -W : Specifies a timeout in seconds how long to wait for a response.'],
    },
  },
  {
    names: ['--will-payload'],
    tools: ALL,
    missing: missing('--will-payload', 'will payload'),
    apply: (cfg, v) => {
      cfg.willPayload = v;
      return null;
    },
    help: helpIn(
      ALL,
      ' --will-payload : payload for the client Will, which is sent by the broker in case of',
      '                  unexpected disconnection. If not given and will-topic is set, a zero',
      '                  length message will be sent.',
    ),
  },
  {
    names: ['--will-qos'],
    tools: ALL,
    missing: missing('--will-qos', 'will QoS'),
    apply: (cfg, v) => {
      cfg.willQos = atoi(v);
      return cfg.willQos < 0 || cfg.willQos > 2
        ? error(`Error: Invalid will QoS ${cfg.willQos}.\n\n`)
        : null;
    },
    help: helpIn(ALL, ' --will-qos : QoS level for the client Will.'),
  },
  {
    names: ['--will-retain'],
    tools: ALL,
    apply: (cfg) => {
      cfg.willRetain = true;
      return null;
    },
    help: helpIn(ALL, ' --will-retain : if given, make the client Will retained.'),
  },
  {
    names: ['--will-topic'],
    tools: ALL,
    missing: missing('--will-topic', 'will topic'),
    apply: (cfg, v) => {
      if (!isValidUtf8Argument(v)) {
        return error('Error: Malformed UTF-8 in --will-topic argument.\n\n');
      }
      if (!isValidPublishTopic(v)) {
        return error(`Error: Invalid will topic '${v}', does it contain '+' or '#'?\n`);
      }
      cfg.willTopic = v;
      return null;
    },
    help: helpIn(ALL, ' --will-topic : the topic on which to publish the client Will.'),
  },
  {
    names: ['-x'],
    tools: ALL,
    missing: missing('-x', 'session expiry interval'),
    apply: (cfg, v) => {
      if (v === '∞') {
        cfg.sessionExpiryInterval = 0xffff_ffff;
        return null;
      }
      const parsed = strtol(v, 0);
      if (parsed.end === 0 || parsed.end !== v.length) {
        return error('Error: session-expiry-interval not a number.\n\n');
      }
      if (parsed.value > 0xffff_ffffn || parsed.value < -1n) {
        return error('Error: session-expiry-interval out of range.\n\n');
      }
      const n = Number(parsed.value);
      cfg.sessionExpiryInterval = n === -1 ? 0xffff_ffff : n;
      return null;
    },
    help: helpIn(
      ALL,
      ' -x : Set the session-expiry-interval property on the CONNECT packet. Applies to MQTT v5',
      '      clients only. Set to 0-4294967294 to specify the session will expire in that many',
      '      seconds after the client disconnects, or use -1, 4294967295, or ∞ for a session',
      '      that does not expire. Defaults to -1 if -c is also given, or 0 if -c not given.',
    ),
  },
];

/** Rows by every spelling. */
export const OPTION_BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(
  OPTIONS.flatMap((spec) => spec.names.map((name) => [name, spec] as const)),
);
