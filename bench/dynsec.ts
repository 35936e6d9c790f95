/**
 * `npm run bench:dynsec`: what the dynamic security plugin costs our broker, beside
 * Debian's Mosquitto 2.0.11 with its mosquitto_dynamic_security.so, on this machine.
 *
 *   node dist/bench/dynsec.js [--rounds 3] [--duration 3] [--warmup 1] [--only fan-in,qos1,connects]
 *     [--clients 10000] [--roles 1000] [--connects 10000] [--tcp-nodelay]
 *
 * One dynsec JSON file (Mosquitto's format) holds 10,000 clients (password: PBKDF2-SHA512,
 * 101 iterations, 12-byte salt, as the plugin writes them; one role each, client i having
 * role i % 1000) and 1,000 roles of 10 ACL entries each: six that never match the
 * benchmark's topics (publishClientSend / publishClientReceive / subscribePattern with + and
 * # wildcards, some allowing, some denying, at higher priority, so they are tried first) and
 * four that grant them (publishClientSend, publishClientReceive and subscribePattern on
 * bench/#, plus subscribeLiteral bench/# for the fan-in subscriber: Mosquitto 2.0.11
 * matches a subscribePattern against a filter with mosquitto_topic_matches_sub, which
 * refuses a filter holding wildcards). Every broker gets a fresh copy of the file when it
 * starts (the plugin rewrites it).
 *
 * Rows: ours and Mosquitto, each without security (allow_anonymous true) and with dynsec
 * (allow_anonymous false, `plugin .../mosquitto_dynamic_security.so`,
 * `plugin_opt_config_file`); otherwise the mosquitto.conf of `npm run bench`. The load
 * generator's client i logs in as user bench-<i> with its password in every row (the rows
 * without security accept any). Scenarios:
 * - fan-in and qos1: `npm run bench`'s shapes (one broker process per row for all rounds,
 *   the rows taking turns);
 * - connects: N clients (10,000) connecting with their dynsec passwords, at most 128
 *   handshakes in flight (the generator's setup), timed from the first TCP connect to the
 *   last CONNACK; a freshly started broker for every run.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  brokerConfig,
  BrokerStartError,
  freePort,
  MOSQUITTO_BINARY,
  OUR_BINARY,
  spawnBroker,
} from './loadgen/brokers.ts';
import type { RunningBroker } from './loadgen/brokers.ts';
import { parseList, parseNumber } from './loadgen/cli.ts';
import { compileLoadgen } from './loadgen/loadgen.ts';
import type { LoadgenResult } from './loadgen/loadgen.ts';
import { describeMachine, formatMachine } from './loadgen/machine.ts';
import { formatRun, ratio, renderMarkdown, summarize, summarizeCpu } from './loadgen/report.ts';
import type { RunOutcome } from './loadgen/report.ts';
import {
  errorText,
  runFreshRounds,
  runScenarioOnce,
  runSharedRounds,
  sleep,
} from './loadgen/rounds.ts';
import type { Contenders } from './loadgen/rounds.ts';
import { integer, SCENARIOS } from './loadgen/scenarios.ts';
import type { Metric, RunSettings, Scenario } from './loadgen/scenarios.ts';

// ---- Rows ------------------------------------------------------------------------------------

const ROWS = ['ours-none', 'ours-dynsec', 'mosquitto-none', 'mosquitto-dynsec'] as const;
type RowKey = (typeof ROWS)[number];

const ROW_TITLES: Record<RowKey, string> = {
  'ours-none': 'ours, no security',
  'ours-dynsec': 'ours, dynsec',
  'mosquitto-none': 'Mosquitto 2.0.11, no security',
  'mosquitto-dynsec': 'Mosquitto 2.0.11, dynsec',
};

const MOSQUITTO_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';
/** Ours picks its built-in plugin by the file name alone; the directory need not exist. */
const OUR_PLUGIN = '/usr/lib/mosquitto-ts/mosquitto_dynamic_security.so';

const USER_PREFIX = 'bench-';
const PASSWORD_PREFIX = 'secret-';

// ---- Options ---------------------------------------------------------------------------------

const PART_IDS = ['fan-in', 'qos1', 'connects'] as const;
type PartId = (typeof PART_IDS)[number];

interface Options extends RunSettings {
  readonly rounds: number;
  readonly parts: readonly PartId[];
  readonly clients: number;
  readonly roles: number;
  readonly connects: number;
  readonly tcpNoDelay: boolean;
}

const USAGE = `usage: node dist/bench/dynsec.js [options]
  --duration <s>      measured seconds per run (default 3)
  --warmup <s>        seconds of load before each measured window (default 1)
  --rounds <n>        runs per scenario and row; the table shows medians (default 3)
  --only <list>       scenarios, comma separated: ${PART_IDS.join(',')} (default all)
  --clients <n>       dynsec clients in the JSON file (default 10000)
  --roles <n>         dynsec roles, 10 ACL entries each (default 1000)
  --connects <n>      clients of the connects scenario (default 10000, at most --clients)
  --tcp-nodelay       brokers disable Nagle's algorithm (default off, as in Mosquitto)`;

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      only: { type: 'string' },
      clients: { type: 'string' },
      roles: { type: 'string' },
      connects: { type: 'string' },
      'tcp-nodelay': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const clients = Math.round(parseNumber(values.clients, 10_000, 'clients', 201));
  return {
    duration: parseNumber(values.duration, 3, 'duration', 0.5),
    warmup: parseNumber(values.warmup, 1, 'warmup', 0),
    connections: 0,
    rounds: Math.round(parseNumber(values.rounds, 3, 'rounds', 1)),
    parts: values.only === undefined ? PART_IDS : parseList(values.only, PART_IDS, 'scenario'),
    clients,
    roles: Math.round(parseNumber(values.roles, 1000, 'roles', 1)),
    connects: Math.min(clients, Math.round(parseNumber(values.connects, 10_000, 'connects', 1))),
    tcpNoDelay: values['tcp-nodelay'] === true,
  };
}

// ---- The dynsec file ---------------------------------------------------------------------------

interface AclEntry {
  readonly acltype: string;
  readonly topic: string;
  readonly priority: number;
  readonly allow: boolean;
}

/** Role r's ten entries: six that never match bench/..., tried first, then four granting it. */
function roleAcls(r: number): AclEntry[] {
  const id = String(r);
  return [
    { acltype: 'publishClientSend', topic: `app/${id}/+/cmd`, priority: 10, allow: true },
    { acltype: 'publishClientSend', topic: `sensors/${id}/#`, priority: 9, allow: false },
    { acltype: 'publishClientReceive', topic: `app/${id}/#`, priority: 8, allow: true },
    { acltype: 'publishClientReceive', topic: `private/+/${id}`, priority: 7, allow: false },
    { acltype: 'subscribePattern', topic: `app/${id}/+/status/#`, priority: 6, allow: true },
    { acltype: 'subscribePattern', topic: `private/#`, priority: 5, allow: false },
    { acltype: 'publishClientSend', topic: 'bench/#', priority: 0, allow: true },
    { acltype: 'publishClientReceive', topic: 'bench/#', priority: 0, allow: true },
    { acltype: 'subscribePattern', topic: 'bench/#', priority: 0, allow: true },
    { acltype: 'subscribeLiteral', topic: 'bench/#', priority: 0, allow: true },
  ];
}

/** Mosquitto's dynamic-security.json with `clients` users and `roles` roles. */
function dynsecJson(clients: number, roles: number): string {
  const clientList = [];
  for (let i = 0; i < clients; i++) {
    const salt = randomBytes(12);
    const hash = pbkdf2Sync(`${PASSWORD_PREFIX}${String(i)}`, salt, 101, 64, 'sha512');
    clientList.push({
      username: `${USER_PREFIX}${String(i)}`,
      textname: `benchmark client ${String(i)}`,
      roles: [{ rolename: `role-${String(i % roles)}` }],
      password: hash.toString('base64'),
      salt: salt.toString('base64'),
      iterations: 101,
    });
  }
  const roleList = [];
  for (let r = 0; r < roles; r++)
    roleList.push({ rolename: `role-${String(r)}`, acls: roleAcls(r) });
  return JSON.stringify(
    {
      defaultACLAccess: {
        publishClientSend: false,
        publishClientReceive: true,
        subscribe: false,
        unsubscribe: true,
      },
      clients: clientList,
      groups: [],
      roles: roleList,
    },
    null,
    2,
  );
}

// ---- Brokers -----------------------------------------------------------------------------------

/** Starts one row's broker with a fresh copy of the dynsec file (dynsec rows). */
async function startRow(
  key: RowKey,
  workDir: string,
  dynsecFile: string,
  options: Options,
  run: number,
): Promise<RunningBroker> {
  const port = await freePort();
  const mosquitto = key.startsWith('mosquitto');
  if (mosquitto && !existsSync(MOSQUITTO_BINARY))
    throw new BrokerStartError(`${MOSQUITTO_BINARY} not found`);
  let config = brokerConfig(port, options.tcpNoDelay);
  if (key.endsWith('dynsec')) {
    if (mosquitto && !existsSync(MOSQUITTO_PLUGIN))
      throw new BrokerStartError(`${MOSQUITTO_PLUGIN} not found`);
    const copy = join(workDir, `${key}-${String(run)}.json`);
    await copyFile(dynsecFile, copy);
    config = config.replace('allow_anonymous true', 'allow_anonymous false');
    config += [
      `plugin ${mosquitto ? MOSQUITTO_PLUGIN : OUR_PLUGIN}`,
      `plugin_opt_config_file ${copy}`,
      '',
    ].join('\n');
  }
  const configFile = join(workDir, `${key}-${String(run)}.conf`);
  await writeFile(configFile, config);
  const command = mosquitto
    ? [MOSQUITTO_BINARY, '-c', configFile]
    : [
        ...(process.env.DYNSEC_BENCH_NODE_ARGS === undefined ? [OUR_BINARY] : ourWithArgs()),
        '-c',
        configFile,
      ];
  // 10,000 clients to load: allow more than the default 10 s to listen.
  const broker = await spawnBroker(key, command, port, { startTimeoutMs: 60_000 });
  if (key.endsWith('dynsec')) {
    try {
      await waitForLogin(broker);
    } catch (error) {
      await broker.stop();
      throw error;
    }
  }
  return broker;
}

/** One MQTT 3.1.1 CONNECT as bench-0: resolves with the CONNACK return code, -1 without one. */
function tryLogin(port: number): Promise<number> {
  const text = (value: string): Buffer => {
    const bytes = Buffer.from(value, 'utf8');
    const length = Buffer.alloc(2);
    length.writeUInt16BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const body = Buffer.concat([
    text('MQTT'),
    Buffer.from([4, 0xc2, 0, 60]),
    text('dynsec-bench-probe'),
    text(`${USER_PREFIX}0`),
    text(`${PASSWORD_PREFIX}0`),
  ]);
  const packet = Buffer.concat([Buffer.from([0x10, body.length]), body]);
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = Buffer.alloc(0);
    const done = (code: number): void => {
      socket.destroy();
      resolve(code);
    };
    socket.setTimeout(5000, () => {
      done(-1);
    });
    socket.on('connect', () => socket.write(packet));
    socket.on('data', (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk]);
      if (answer.length >= 4) done(answer[3] ?? -1);
    });
    socket.on('error', () => {
      done(-1);
    });
    socket.on('close', () => {
      done(-1);
    });
  });
}

/**
 * Mosquitto 2.0.11 listens before its plugin has read the dynsec file (and refuses every
 * login until then): a run starts once bench-0 can log in.
 */
async function waitForLogin(broker: RunningBroker): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if ((await tryLogin(broker.port)) === 0) return;
    const gone = broker.exitReason();
    if (gone !== null) throw new BrokerStartError(gone);
    if (Date.now() > deadline) throw new BrokerStartError('bench-0 cannot log in after 60 s');
    await sleep(100);
  }
}

/** DYNSEC_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p": our broker run under node with them. */
function ourWithArgs(): string[] {
  const args = (process.env.DYNSEC_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  return [process.execPath, '--max-semi-space-size=4', ...args, OUR_BINARY];
}

// ---- Scenarios ---------------------------------------------------------------------------------

function withLogins(scenario: Scenario, users: number): Scenario {
  return {
    ...scenario,
    loadgenArgs: (settings) => [
      ...scenario.loadgenArgs(settings),
      '--user-prefix',
      USER_PREFIX,
      '--password-prefix',
      PASSWORD_PREFIX,
      '--users',
      String(users),
    ],
  };
}

function fromBench(id: 'fan-in' | 'qos1'): Scenario {
  const scenario = SCENARIOS.find((s) => s.id === id);
  if (scenario === undefined) throw new Error(`no ${id} scenario`);
  return scenario;
}

function connectsPerSecond(result: LoadgenResult): number | null {
  return result.kind === 'connections' && result.connectSeconds > 0
    ? result.clients / result.connectSeconds
    : null;
}

function connectsScenario(options: Options): Scenario {
  const metric: Metric = {
    label: 'connects/s',
    better: 'higher',
    value: connectsPerSecond,
    format: integer,
  };
  return {
    id: 'memory',
    title: () =>
      `connects: ${integer(options.connects)} clients logging in with dynsec passwords, 128 handshakes in flight`,
    freshBrokerPerRun: true,
    loadgenArgs: () => [
      '--mode',
      'connections',
      '--clients',
      String(options.connects),
      '--keepalive',
      '60',
      '--setup-timeout',
      '120',
    ],
    timeout: () => 180,
    metrics: [metric],
  };
}

interface PartRuns {
  readonly scenario: Scenario;
  readonly runs: ReadonlyMap<RowKey, readonly RunOutcome[]>;
}

async function runPart(
  scenario: Scenario,
  options: Options,
  loadgen: string,
  workDir: string,
  dynsecFile: string,
): Promise<PartRuns> {
  process.stdout.write(`\n${scenario.title(options)}\n`);
  let started = 0;
  const contenders: Contenders<RowKey, LoadgenResult> = {
    keys: ROWS,
    rounds: options.rounds,
    start: (key) => startRow(key, workDir, dynsecFile, options, started++),
    run: (_key, broker) => runScenarioOnce(loadgen, scenario, options, broker),
    done: (round, key, outcome) => {
      const prefix = `  round ${String(round + 1)}/${String(options.rounds)}  `;
      process.stdout.write(`${prefix}${formatRun(scenario, key, outcome)}\n`);
    },
    notStarted: (key, reason) => {
      process.stdout.write(`  ${key}: failed to start (${reason})\n`);
    },
  };
  const runs = scenario.freshBrokerPerRun
    ? await runFreshRounds(contenders)
    : await runSharedRounds(contenders);
  return { scenario, runs };
}

// ---- Report ------------------------------------------------------------------------------------

function report(parts: readonly PartRuns[], settings: RunSettings): string[] {
  const header = [
    'Scenario',
    'Figure',
    ...ROWS.map((key) => ROW_TITLES[key]),
    'ours dynsec / ours none',
    'ours / Mosquitto, none',
    'ours / Mosquitto, dynsec',
  ];
  const rows: string[][] = [];
  const notes = new Set<string>();
  for (const { scenario, runs } of parts) {
    scenario.metrics.forEach((metric, index) => {
      const cell = (key: RowKey) => summarize(metric, runs.get(key) ?? []);
      const s = Object.fromEntries(ROWS.map((key) => [key, cell(key)])) as Record<
        RowKey,
        ReturnType<typeof summarize>
      >;
      rows.push([
        index === 0 ? scenario.title(settings) : '',
        metric.label,
        ...ROWS.map((key) => s[key].cell),
        ratio(s['ours-dynsec'].value, s['ours-none'].value),
        ratio(s['ours-none'].value, s['mosquitto-none'].value),
        ratio(s['ours-dynsec'].value, s['mosquitto-dynsec'].value),
      ]);
    });
    rows.push([
      '',
      'CPU broker / generator / other',
      ...ROWS.map((key) => summarizeCpu(runs.get(key) ?? [])),
      '',
      '',
      '',
    ]);
    for (const key of ROWS) {
      for (const run of runs.get(key) ?? []) {
        if (run.kind === 'not-started') notes.add(`${key}: failed to start (${run.error})`);
        if (run.kind === 'failed') notes.add(`${key}, ${scenario.id}: run failed (${run.error})`);
      }
    }
  }
  return [...renderMarkdown(header, rows), '', ...notes];
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${errorText(error)}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const started = Date.now();
  const lines = [
    '# mosquitto-ts dynamic security benchmark',
    '',
    ...formatMachine(describeMachine()),
    `settings: ${String(options.duration)} s measured after ${String(options.warmup)} s warm-up, ` +
      `${String(options.rounds)} rounds (medians), payload 64 B, dynsec file ${integer(options.clients)} clients / ` +
      `${integer(options.roles)} roles x 10 ACL entries, TCP_NODELAY ${options.tcpNoDelay ? 'on' : 'off (default)'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  const loadgen = await compileLoadgen();
  const workDir = await mkdtemp(join(tmpdir(), 'mosquitto-ts-dynsec-'));
  // Debian's Mosquitto started as root runs as user mosquitto: it must read (and may
  // rewrite) its copy of the dynsec file in here.
  await chmod(workDir, 0o777);
  const collected: PartRuns[] = [];
  try {
    const dynsecFile = join(workDir, 'dynamic-security.json');
    const t0 = performance.now();
    await writeFile(dynsecFile, dynsecJson(options.clients, options.roles));
    process.stdout.write(
      `dynsec file written in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );
    for (const part of options.parts) {
      const scenario =
        part === 'connects'
          ? withLogins(connectsScenario(options), options.clients)
          : withLogins(fromBench(part), options.clients);
      collected.push(await runPart(scenario, options, loadgen.binary, workDir, dynsecFile));
    }
  } finally {
    await loadgen.dispose();
    await rm(workDir, { recursive: true, force: true });
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const legend = [
    '',
    `## Results (medians of ${String(options.rounds)} rounds, ${minutes} min)`,
    '',
    ...report(collected, options),
    '',
    'CPU: user+sys of the broker / of the load generator / of all other processes, in % of one',
    'core, during the measured window (connects: from the first connect to 1 s after the last',
    'CONNACK; "other" is not sampled there). Ratios above 1 are better for ours.',
  ];
  process.stdout.write(`${legend.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
