/**
 * The `mosquitto` command line (features §2.1), as one table: each row names a flag, its
 * value, its help lines and what it sets. Texts, streams and exit statuses are Mosquitto
 * 2.0.22's: `-h` prints the usage on stdout and exits 0; an unknown option prints
 * `Error: Unknown option '<x>'.` on stderr, the usage on stdout, and exits 3; a bad `-p`
 * or `-c` is logged (with the timestamp) and exits 3.
 *
 * Mosquitto reads each `-c` file as soon as it meets it; here the caller loads
 * `configFile` after parsing, so when both a `-c` file and a later argument are wrong,
 * the argument's error is the one reported.
 */
import { atoi } from './config/values.ts';
import { BROKER_VERSION, BROKER_VERSION_TEXT } from './version.ts';

export { BROKER_VERSION };

/** Mosquitto's CMD_PORT_LIMIT. */
const MAX_CLI_PORTS = 10;

export interface BrokerArgs {
  /** The last `-c`/`--config-file`; null runs with the default (local-only) config. */
  readonly configFile: string | null;
  readonly daemon: boolean;
  /** `-p` ports in order (at most 10); used only in local-only mode. */
  readonly ports: readonly number[];
  readonly verbose: boolean;
}

export type ArgsResult =
  | { readonly kind: 'run'; readonly args: BrokerArgs }
  | {
      readonly kind: 'exit';
      readonly exitCode: number;
      /** Printed as is. */
      readonly stdout: string;
      readonly stderr: string;
      /** An error to log at error level, i.e. with the `<timestamp>: ` prefix, on stderr. */
      readonly logError: string | null;
    };

interface ArgsState {
  configFile: string | null;
  daemon: boolean;
  ports: number[];
  verbose: boolean;
}

/** What a row asks for: carry on, or stop with an error / the help / the version. */
type ArgOutcome = 'continue' | 'help' | 'version' | { readonly error: string };

interface ArgSpec {
  readonly names: readonly string[];
  /** Fragment of the usage synopsis, e.g. `[-p port]`; absent when not listed there. */
  readonly synopsis?: string;
  /** Help lines after ` -x : `; absent for hidden options. */
  readonly help?: readonly string[];
  /** For options with a value: the error when it is missing. */
  readonly missingValue?: string;
  readonly apply: (state: ArgsState, value: string) => ArgOutcome;
}

const ARG_SPECS: readonly ArgSpec[] = [
  {
    names: ['-c', '--config-file'],
    synopsis: '[-c config_file]',
    help: ['specify the broker config file.'],
    missingValue: 'Error: -c argument given, but no config file specified.',
    apply: (state, file) => {
      state.configFile = file;
      return 'continue';
    },
  },
  {
    names: ['-d', '--daemon'],
    synopsis: '[-d]',
    help: ['put the broker into the background after starting.'],
    apply: (state) => {
      state.daemon = true;
      return 'continue';
    },
  },
  {
    names: ['-h', '--help'],
    synopsis: '[-h]',
    help: ['display this help.'],
    apply: () => 'help',
  },
  {
    names: ['--version'],
    apply: () => 'version',
  },
  {
    names: ['-p', '--port'],
    synopsis: '[-p port]',
    help: [
      'start the broker listening on the specified port.',
      'Not recommended in conjunction with the -c option.',
    ],
    missingValue: 'Error: -p argument given, but no port specified.',
    apply: (state, value) => {
      const port = atoi(value);
      if (port < 1 || port > 65535) return { error: `Error: Invalid port specified (${port}).` };
      if (state.ports.length === MAX_CLI_PORTS) {
        return {
          error: `Error: Only ${MAX_CLI_PORTS} ports can be specified on the command line.`,
        };
      }
      state.ports.push(port);
      return 'continue';
    },
  },
  {
    names: ['-v', '--verbose'],
    help: [
      'verbose mode - enable all logging types. This overrides',
      'any logging options given in the config file.',
    ],
    apply: (state) => {
      state.verbose = true;
      return 'continue';
    },
  },
];

const specByName = new Map<string, ArgSpec>(
  ARG_SPECS.flatMap((spec) => spec.names.map((name) => [name, spec] as const)),
);

/** `mosquitto -h`, byte for byte (layout from the table above). */
export function usageText(): string {
  const synopsis = ARG_SPECS.flatMap((spec) =>
    spec.synopsis === undefined ? [] : [spec.synopsis],
  );
  const helpLines = ARG_SPECS.flatMap((spec) => {
    if (spec.help === undefined) return [];
    const flag = spec.names[0] ?? '';
    return spec.help.map((line, i) => (i === 0 ? ` ${flag} : ${line}` : `      ${line}`));
  });
  return [
    `mosquitto version ${BROKER_VERSION_TEXT}`,
    '',
    'mosquitto is an MQTT v5.0/v3.1.1/v3.1 broker.',
    '',
    `Usage: mosquitto ${synopsis.join(' ')}`,
    '',
    ...helpLines,
    '',
    'See https://mosquitto.org/ for more information.',
    '',
    '',
  ].join('\n');
}

/**
 * `mosquitto --version`. Mosquitto prints its own copyright line; we name this
 * reimplementation instead, keeping the first line scripts parse.
 */
export function versionText(): string {
  return [
    `mosquitto ${BROKER_VERSION}`,
    'mosquitto-ts: a TypeScript reimplementation of Eclipse Mosquitto.',
    'License EPL-2.0 OR BSD-3-Clause.',
    '',
  ].join('\n');
}

function exit(
  exitCode: number,
  stdout: string,
  stderr: string,
  logError: string | null,
): ArgsResult {
  return { kind: 'exit', exitCode, stdout, stderr, logError };
}

/** Parses `mosquitto`'s arguments (without the program name). Never exits the process. */
export function parseBrokerArgs(argv: readonly string[]): ArgsResult {
  const state: ArgsState = { configFile: null, daemon: false, ports: [], verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const spec = specByName.get(arg);
    if (spec === undefined) return exit(3, usageText(), `Error: Unknown option '${arg}'.\n`, null);
    let value = '';
    if (spec.missingValue !== undefined) {
      const next = argv[i + 1];
      if (next === undefined) return exit(3, '', '', spec.missingValue);
      value = next;
      i++;
    }
    const outcome = spec.apply(state, value);
    if (outcome === 'help') return exit(0, usageText(), '', null);
    if (outcome === 'version') return exit(0, versionText(), '', null);
    if (outcome !== 'continue') return exit(3, '', '', outcome.error);
  }
  return { kind: 'run', args: state };
}
