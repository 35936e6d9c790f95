/**
 * `npm run bench:persistence`: what persistence costs our broker, beside Mosquitto 2.0.11
 * (Debian, mosquitto.db) and Mosquitto 2.1.2 (its persist-sqlite plugin) on this machine.
 *
 *   node dist/bench/persistence.js [--parts 1,2,3] [--rounds 3] [--duration 3] [--warmup 1]
 *     [--rows <keys>] [--retained 1000000] [--sessions 10000] [--queued 100]
 *     [--ack-rate 200] [--ack-duration 5] [--mosquitto21 /work/ref/m212] [--tcp-nodelay]
 *
 * 1. Throughput: the qos1 scenario of `npm run bench` (100 publishers -> 100 subscribers,
 *    16 in flight each, 64-byte payloads) with durable subscribers (clean session 0), so
 *    every message passes through the store, for each configuration (row) below. One
 *    broker process per row serves all rounds; the rows take turns as in bench/broker.ts.
 * 2. Start-up with a large store: a mosquitto.db with N retained messages and M durable
 *    sessions holding K queued QoS 1 messages each, written with our codec
 *    (src/common/mosquitto-db), and the same state in a mosquitto.sqlite3 written by our
 *    SQLite store. Each broker starts on a fresh copy; we time spawn -> port accepting and
 *    read VmRSS / VmHWM, then check that a session and a retained message came back.
 * 3. Commit latency: PUBLISH -> PUBACK of single QoS 1 messages at a low rate, with one
 *    offline durable subscriber (each message is stored), durable acks on and off.
 *
 * Every row's store lives in a fresh directory under the system temp dir (same disk as
 * /tmp). Ours reads the same mosquitto.conf lines as Mosquitto (bench/loadgen/brokers.ts),
 * plus the store's lines.
 */
import { Buffer } from 'node:buffer';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect as mqttConnect } from 'mqtt';
import type { DbChunk } from '../src/common/mosquitto-db.ts';
import {
  brokerConfig,
  freePort,
  MOSQUITTO_BINARY,
  OUR_BINARY,
  spawnBroker,
} from './loadgen/brokers.ts';
import type { RunningBroker, SpawnOptions } from './loadgen/brokers.ts';
import { parseList, parseNumber, UsageError } from './loadgen/cli.ts';
import { compileLoadgen } from './loadgen/loadgen.ts';
import type { LoadgenResult } from './loadgen/loadgen.ts';
import { describeMachine, formatMachine } from './loadgen/machine.ts';
import {
  formatRun,
  median,
  ratio,
  renderMarkdown,
  summarize,
  summarizeCpu,
} from './loadgen/report.ts';
import type { Outcome, RunOutcome } from './loadgen/report.ts';
import {
  errorText,
  runFreshRounds,
  runScenarioOnce,
  runSharedRounds,
  sleep,
} from './loadgen/rounds.ts';
import type { Contenders } from './loadgen/rounds.ts';
import {
  integer,
  LATENCY_P50,
  LATENCY_P99,
  SCENARIOS,
  traffic,
  trafficTimeout,
} from './loadgen/scenarios.ts';
import type { Metric, RunSettings, Scenario } from './loadgen/scenarios.ts';

// ---- Configurations ------------------------------------------------------------------------

type Program = 'ours' | 'mosquitto' | 'mosquitto21';
type Store = 'none' | 'db' | 'sqlite';

interface Row {
  readonly key: string;
  readonly label: string;
  readonly program: Program;
  readonly store: Store;
  readonly durableAck: boolean;
}

const makeRow = (
  key: string,
  label: string,
  program: Program,
  store: Store,
  durableAck = false,
): Row => ({ key, label, program, store, durableAck });

/** Parts 1 and 3, in the order of the brief's table. */
const ROWS: readonly Row[] = [
  makeRow('ours-off', 'ours, persistence off', 'ours', 'none'),
  makeRow('ours-db', 'ours, mosquitto.db', 'ours', 'db'),
  makeRow('ours-sqlite', 'ours, SQLite', 'ours', 'sqlite'),
  makeRow('ours-db-ack', 'ours, mosquitto.db + durable ack', 'ours', 'db', true),
  makeRow('ours-sqlite-ack', 'ours, SQLite + durable ack', 'ours', 'sqlite', true),
  makeRow('mosquitto-db', 'Mosquitto 2.0, mosquitto.db', 'mosquitto', 'db'),
  makeRow('mosquitto21-sqlite', 'Mosquitto 2.1, SQLite plugin', 'mosquitto21', 'sqlite'),
];
const ROW_KEYS = ROWS.map((row) => row.key);

/** Part 3 shows each store with durable acks off, then on. */
const LATENCY_ORDER = [
  'ours-off',
  'ours-db',
  'ours-db-ack',
  'ours-sqlite',
  'ours-sqlite-ack',
  'mosquitto-db',
  'mosquitto21-sqlite',
];

/** Part 2: start-up rows (the empty ones are the floor). */
const STARTUP_ROWS: readonly Row[] = [
  makeRow('ours-empty', 'ours, no store', 'ours', 'none'),
  makeRow('mosquitto-empty', 'Mosquitto 2.0, no store', 'mosquitto', 'none'),
  makeRow('ours-db', 'ours, mosquitto.db', 'ours', 'db'),
  makeRow('mosquitto-db', 'Mosquitto 2.0, mosquitto.db', 'mosquitto', 'db'),
  makeRow('mosquitto21-db', 'Mosquitto 2.1, mosquitto.db', 'mosquitto21', 'db'),
  makeRow('ours-sqlite', 'ours, SQLite', 'ours', 'sqlite'),
  makeRow('mosquitto21-sqlite', 'Mosquitto 2.1, SQLite plugin', 'mosquitto21', 'sqlite'),
];

/** Ours recognises Mosquitto 2.1's plugin by its file name; the file need not exist. */
const OUR_SQLITE_PLUGIN = '/x/mosquitto_persist_sqlite.so';
const DEFAULT_MOSQUITTO21 = '/work/ref/m212';

const PARTS = ['1', '2', '3'] as const;
type Part = (typeof PARTS)[number];

interface Options extends RunSettings {
  readonly parts: readonly Part[];
  readonly rows: readonly string[];
  readonly rounds: number;
  readonly tcpNoDelay: boolean;
  readonly retained: number;
  readonly sessions: number;
  readonly queued: number;
  readonly ackRate: number;
  readonly ackDuration: number;
  readonly mosquitto21Dir: string;
}

interface Mosquitto21 {
  readonly binary: string;
  readonly plugin: string;
  readonly version: string;
}

const USAGE = `usage: node dist/bench/persistence.js [options]
  --parts <list>        1 (QoS 1 throughput), 2 (start-up with a large store),
                        3 (PUBLISH -> PUBACK latency); default 1,2,3
  --rounds <n>          runs per row; tables show medians (default 3)
  --duration <s>        part 1: measured seconds per run (default 3)
  --warmup <s>          parts 1 and 3: seconds of load before the window (default 1)
  --rows <list>         parts 1 and 3: rows, comma separated (default all):
                        ${ROW_KEYS.join(',')}
  --retained <n>        part 2: retained messages in the store (default 1000000)
  --sessions <n>        part 2: durable sessions (default 10000)
  --queued <n>          part 2: queued QoS 1 messages per session (default 100)
  --ack-rate <n>        part 3: messages per second (default 200)
  --ack-duration <s>    part 3: measured seconds per run (default 5)
  --mosquitto21 <dir>   Mosquitto 2.1 build: <dir>/bin/mosquitto and
                        <dir>/so/mosquitto_persist_sqlite.so (default ${DEFAULT_MOSQUITTO21})
  --tcp-nodelay         brokers set TCP_NODELAY (set_tcp_nodelay true; default off)`;

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      parts: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rows: { type: 'string' },
      retained: { type: 'string' },
      sessions: { type: 'string' },
      queued: { type: 'string' },
      'ack-rate': { type: 'string' },
      'ack-duration': { type: 'string' },
      mosquitto21: { type: 'string' },
      'tcp-nodelay': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  return {
    parts: values.parts === undefined ? PARTS : parseList(values.parts, PARTS, 'part'),
    rows: values.rows === undefined ? ROW_KEYS : parseList(values.rows, ROW_KEYS, 'row'),
    rounds: Math.round(parseNumber(values.rounds, 3, 'rounds', 1)),
    duration: parseNumber(values.duration, 3, 'duration', 0.5),
    warmup: parseNumber(values.warmup, 1, 'warmup', 0),
    connections: 0,
    tcpNoDelay: values['tcp-nodelay'] === true,
    retained: Math.round(parseNumber(values.retained, 1_000_000, 'retained', 0)),
    sessions: Math.round(parseNumber(values.sessions, 10_000, 'sessions', 0)),
    queued: Math.round(parseNumber(values.queued, 100, 'queued', 0)),
    ackRate: Math.round(parseNumber(values['ack-rate'], 200, 'ack-rate', 1)),
    ackDuration: parseNumber(values['ack-duration'], 5, 'ack-duration', 0.5),
    mosquitto21Dir: values.mosquitto21 ?? DEFAULT_MOSQUITTO21,
  };
}

/** The broker and plugin of a Mosquitto 2.1 build: bin/ and so/ links, or the make tree. */
function findMosquitto21(dir: string): Mosquitto21 | string {
  const first = (paths: string[]): string =>
    paths.find((path) => existsSync(path)) ?? paths[0] ?? '';
  const binary = first([join(dir, 'bin', 'mosquitto'), join(dir, 'src', 'mosquitto')]);
  const plugin = first([
    join(dir, 'so', 'mosquitto_persist_sqlite.so'),
    join(dir, 'plugins', 'persist-sqlite', 'mosquitto_persist_sqlite.so'),
  ]);
  if (!existsSync(binary)) return `${binary} not found`;
  if (!existsSync(plugin)) return `${plugin} not found`;
  const run = spawnSync(binary, ['-h'], { encoding: 'utf8' });
  const version = /mosquitto version (\S+)/.exec(`${run.stdout}${run.stderr}`)?.[1];
  if (version === undefined) return `${binary} -h does not say its version`;
  return { binary, plugin, version };
}

const runningAsRoot = process.getuid?.() === 0;

/** "Mosquitto 2.0" and "Mosquitto 2.1" in labels become the versions found. */
function withVersions(rows: readonly Row[], v20: string, v21: string | null): Row[] {
  return rows.map((r) => ({
    ...r,
    label: r.label
      .replace('Mosquitto 2.0', `Mosquitto ${v20}`)
      .replace('Mosquitto 2.1', `Mosquitto ${v21 ?? '2.1'}`),
  }));
}

/** The lines that select `row`'s store in `dir` (mosquitto.db saved every second or not). */
function storeLines(row: Row, dir: string, m21: Mosquitto21 | null, autosave: boolean): string[] {
  const lines: string[] = [];
  switch (row.store) {
    case 'none':
      lines.push('persistence false');
      break;
    case 'db':
      // Mosquitto 2.0 glues location and file name together: keep the slash.
      lines.push('persistence true', `persistence_location ${dir}/`);
      if (autosave) lines.push('autosave_interval 1');
      break;
    case 'sqlite':
      lines.push(
        'persistence false',
        `plugin ${row.program === 'mosquitto21' && m21 !== null ? m21.plugin : OUR_SQLITE_PLUGIN}`,
        `plugin_opt_db_file ${join(dir, 'mosquitto.sqlite3')}`,
      );
      break;
  }
  if (row.durableAck) lines.push('persistence_durable_ack true');
  // Mosquitto drops to user "mosquitto" when started as root, which cannot write our dirs.
  if (row.program !== 'ours' && runningAsRoot) lines.push('user root');
  return lines;
}

function binaryOf(row: Row, m21: Mosquitto21 | null): string {
  switch (row.program) {
    case 'ours':
      return OUR_BINARY;
    case 'mosquitto':
      return MOSQUITTO_BINARY;
    case 'mosquitto21':
      if (m21 === null) throw new Error('Mosquitto 2.1 is not available');
      return m21.binary;
  }
}

/** Writes the row's mosquitto.conf into `dir` and starts the broker. */
async function startRow(
  row: Row,
  dir: string,
  options: Options,
  m21: Mosquitto21 | null,
  autosave: boolean,
  spawnOptions: SpawnOptions = {},
): Promise<RunningBroker> {
  const port = await freePort();
  const config = join(dir, 'mosquitto.conf');
  const lines = storeLines(row, dir, m21, autosave);
  await writeFile(config, brokerConfig(port, options.tcpNoDelay, lines));
  return spawnBroker(row.label, [binaryOf(row, m21), '-c', config], port, spawnOptions);
}

/** The files a row's store directory holds, with their sizes. */
async function describeStoreFiles(dir: string): Promise<string> {
  const parts: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (name.endsWith('.conf')) continue;
    parts.push(`${name} ${formatBytes((await stat(join(dir, name))).size)}`);
  }
  return parts.length === 0 ? 'no store files' : parts.join(', ');
}

function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${String(bytes)} B`;
}

const minutesSince = (start: number): string => ((Date.now() - start) / 60_000).toFixed(1);

function write(line = ''): void {
  process.stdout.write(`${line}\n`);
}

// ---- Parts 1 and 3: loadgen scenarios over the rows ------------------------------------

const QOS1 = SCENARIOS.find((scenario) => scenario.id === 'qos1');

/** The qos1 scenario with durable subscribers; +10 s for discarding their sessions after. */
function durableQos1(): Scenario<string> {
  if (QOS1 === undefined) throw new Error('bench/loadgen/scenarios.ts lost its qos1 scenario');
  const base = QOS1;
  return {
    ...base,
    id: 'qos1-durable',
    title: () =>
      'QoS 1: 100 publishers -> 100 durable subscribers (clean session 0, pairs), 16 in flight each, 64 B',
    loadgenArgs: (s) => [...base.loadgenArgs(s), '--durable', '1'],
    timeout: (s) => base.timeout(s) + 10,
  };
}

function pubackScenario(rate: number): Scenario<string> {
  return {
    id: 'puback',
    title: () =>
      `PUBLISH -> PUBACK: 1 QoS 1 publisher at ${integer(rate)} msg/s, 1 offline durable subscriber, 64 B`,
    freshBrokerPerRun: false,
    loadgenArgs: (s) => traffic(s, ['--mode', 'puback', '--rate', String(rate)]),
    timeout: (s) => trafficTimeout(s) + 10,
    metrics: [
      { ...LATENCY_P50, label: 'p50 PUBLISH->PUBACK us' },
      { ...LATENCY_P99, label: 'p99 PUBLISH->PUBACK us' },
    ],
  };
}

interface RowRuns {
  readonly runs: Map<string, RunOutcome[]>;
  /** What each row's store directory held after its broker stopped. */
  readonly storeFiles: Map<string, string>;
}

async function runRows(
  scenario: Scenario<string>,
  settings: RunSettings,
  rows: readonly Row[],
  options: Options,
  m21: Mosquitto21 | null,
  loadgen: string,
  workDir: string,
): Promise<RowRuns> {
  write(`\n${scenario.title(settings)}`);
  const byKey = new Map(rows.map((row) => [row.key, row]));
  const dirs = new Map<string, string>();
  const contenders: Contenders<string, LoadgenResult> = {
    keys: rows.map((row) => row.key),
    rounds: options.rounds,
    start: async (key) => {
      const row = byKey.get(key);
      if (row === undefined) throw new Error(`no row ${key}`);
      const dir = await mkdtemp(join(workDir, `${scenario.id}-${key}-`));
      dirs.set(key, dir);
      return startRow(row, dir, options, m21, true);
    },
    run: (_key, broker) => runScenarioOnce(loadgen, scenario, settings, broker),
    done: (round, key, outcome) => {
      const label = byKey.get(key)?.label ?? key;
      write(
        `  round ${String(round + 1)}/${String(options.rounds)}  ${formatRun(scenario, label, outcome)}`,
      );
    },
    notStarted: (key, reason) => {
      write(`  ${byKey.get(key)?.label ?? key}: failed to start (${reason})`);
    },
  };
  const runs = await runSharedRounds(contenders);
  const storeFiles = new Map<string, string>();
  for (const [key, dir] of dirs) {
    storeFiles.set(key, await describeStoreFiles(dir));
    await rm(dir, { recursive: true, force: true });
  }
  return { runs, storeFiles };
}

function failureNotes(rows: readonly Row[], runs: Map<string, RunOutcome[]>): string[] {
  const notes = new Set<string>();
  for (const row of rows) {
    for (const run of runs.get(row.key) ?? []) {
      if (run.kind === 'not-started') notes.add(`${row.label}: failed to start (${run.error})`);
      if (run.kind === 'failed') notes.add(`${row.label}: run failed (${run.error})`);
    }
  }
  return [...notes];
}

function throughputTable(
  rows: readonly Row[],
  result: RowRuns,
  scenario: Scenario<string>,
): string[] {
  const [delivered, acked, perCpu] = scenario.metrics as [Metric, Metric, Metric];
  const baseline = summarize(delivered, result.runs.get('ours-off') ?? []).value;
  const table = rows.map((row) => {
    const runs = result.runs.get(row.key) ?? [];
    const d = summarize(delivered, runs);
    return [
      row.label,
      d.cell,
      summarize(acked, runs).cell,
      ratio(d.value, baseline),
      summarize(perCpu, runs).cell,
      summarizeCpu(runs),
    ];
  });
  const lines = renderMarkdown(
    [
      'Configuration',
      'delivered msg/s',
      'acked msg/s',
      'vs ours, off',
      'delivered per broker CPU-s',
      'CPU broker / gen / other',
    ],
    table,
    1,
  );
  const value = (key: string): number | null =>
    summarize(delivered, result.runs.get(key) ?? []).value;
  const m21 = value('mosquitto21-sqlite');
  const m20 = value('mosquitto-db');
  lines.push(
    '',
    `ours with durable acks vs Mosquitto 2.1 SQLite plugin (delivered msg/s): ` +
      `mosquitto.db + durable ack ${ratio(value('ours-db-ack'), m21)}, ` +
      `SQLite + durable ack ${ratio(value('ours-sqlite-ack'), m21)}; ` +
      `without durable acks: mosquitto.db ${ratio(value('ours-db'), m21)}, SQLite ${ratio(value('ours-sqlite'), m21)}`,
    `ours vs Mosquitto 2.0 mosquitto.db (delivered msg/s): mosquitto.db ${ratio(value('ours-db'), m20)}, ` +
      `mosquitto.db + durable ack ${ratio(value('ours-db-ack'), m20)}`,
  );
  return lines;
}

function latencyTable(rows: readonly Row[], result: RowRuns, scenario: Scenario<string>): string[] {
  const [p50, p99] = scenario.metrics as [Metric, Metric];
  const samples: Metric = {
    label: 'samples',
    better: 'higher',
    value: (r) => (r.kind === 'traffic' ? r.latencySamples : null),
    format: integer,
  };
  const ordered = LATENCY_ORDER.flatMap((key) => rows.filter((row) => row.key === key));
  const table = ordered.map((row) => {
    const runs = result.runs.get(row.key) ?? [];
    return [
      row.label,
      row.store === 'none' ? '-' : row.durableAck ? 'on' : 'off',
      summarize(p50, runs).cell,
      summarize(p99, runs).cell,
      summarize(samples, runs).cell,
      summarizeCpu(runs),
    ];
  });
  return renderMarkdown(
    [
      'Configuration',
      'durable ack',
      'p50 us',
      'p99 us',
      'samples per run',
      'CPU broker / gen / other',
    ],
    table,
    1,
  );
}

// ---- Part 2: a large store -------------------------------------------------------------

interface StoreShape {
  readonly retained: number;
  readonly sessions: number;
  readonly queued: number;
}

const sessionId = (j: number): string => `bench-session-${String(j)}`;
const queueTopic = (j: number): string => `bench/queued/${String(j)}`;
const retainTopic = (i: number): string => `bench/retained/${String(i % 1000)}/${String(i)}`;

/**
 * Chunks in the order Mosquitto 2.0 writes them (persist_write.c): CFG, every MSG_STORE,
 * per session its CLIENT and CLIENT_MSG chunks, every SUB, every RETAIN. Store ids 1..N are
 * the retained messages, then session j's K messages. Yields batches of about `batch`.
 */
function* storeChunks(shape: StoreShape, batch: number): Generator<DbChunk[]> {
  const payload = Buffer.alloc(64, 'p');
  const { retained, sessions, queued } = shape;
  const total = retained + sessions * queued;
  let chunks: DbChunk[] = [{ type: 'cfg', lastDbId: BigInt(total), shutdown: true, dbIdSize: 8 }];
  const flush = function* (): Generator<DbChunk[]> {
    if (chunks.length >= batch) {
      yield chunks;
      chunks = [];
    }
  };
  const message = (storeId: number, topic: string, retain: boolean): DbChunk => ({
    type: 'msgStore',
    storeId: BigInt(storeId),
    expiryTime: 0n,
    sourceId: 'bench-fill',
    sourceUsername: null,
    sourceMid: 0,
    sourcePort: 0,
    topic,
    qos: 1,
    retain,
    payload,
    properties: null,
  });
  for (let i = 0; i < retained; i++) {
    chunks.push(message(i + 1, retainTopic(i), true));
    yield* flush();
  }
  for (let j = 0; j < sessions; j++) {
    for (let k = 0; k < queued; k++) {
      chunks.push(message(retained + j * queued + k + 1, queueTopic(j), false));
      yield* flush();
    }
  }
  for (let j = 0; j < sessions; j++) {
    chunks.push({
      type: 'client',
      clientId: sessionId(j),
      username: null,
      sessionExpiryTime: 0n,
      sessionExpiryInterval: 0xffff_ffff,
      lastMid: queued,
      listenerPort: 0,
    });
    for (let k = 0; k < queued; k++) {
      chunks.push({
        type: 'clientMsg',
        storeId: BigInt(retained + j * queued + k + 1),
        mid: k + 1,
        clientId: sessionId(j),
        qos: 1,
        state: 11, // mosq_ms_queued
        retain: false,
        dup: false,
        direction: 1, // outgoing
        properties: null,
      });
    }
    yield* flush();
  }
  for (let j = 0; j < sessions; j++) {
    chunks.push({
      type: 'sub',
      clientId: sessionId(j),
      topic: queueTopic(j),
      qos: 1,
      options: 0,
      identifier: 0,
    });
    yield* flush();
  }
  for (let i = 0; i < retained; i++) {
    chunks.push({ type: 'retain', storeId: BigInt(i + 1) });
    yield* flush();
  }
  if (chunks.length > 0) yield chunks;
}

/** Writes the store with our codec, batch by batch (each batch's file header dropped). */
async function writeGeneratedDb(path: string, shape: StoreShape): Promise<void> {
  const codec = await import('../src/common/mosquitto-db.ts');
  const headerSize = codec.DB_MAGIC.length + 8; // magic, CRC, version
  const fd = openSync(path, 'w', 0o600);
  try {
    let first = true;
    for (const chunks of storeChunks(shape, 20_000)) {
      const bytes = codec.writeMosquittoDb({ version: codec.DB_VERSION, chunks });
      writeSync(fd, first ? bytes : bytes.subarray(headerSize));
      first = false;
    }
  } finally {
    closeSync(fd);
  }
}

const INTERNAL_SQLITE = '--internal-make-sqlite';

/**
 * The SQLite twin of a mosquitto.db: our mosquitto.db store loads it and our SQLite store
 * saves that state (one transaction). Runs in a child process with a larger heap.
 */
async function makeSqliteFromDb(dbPath: string, sqlitePath: string): Promise<void> {
  const { MosquittoDbStore } = await import('../src/broker/persistence/mosquitto-db-store.ts');
  const { openSqliteStore } = await import('../src/broker/persistence/sqlite/index.ts');
  const { loadState } = await import('../src/broker/persistence/store.ts');
  const state = loadState(new MosquittoDbStore(dbPath));
  const store = openSqliteStore({ dbFile: sqlitePath, sync: 'off' }, (level, line) => {
    process.stderr.write(`${level}: ${line}\n`);
  });
  loadState(store);
  store.save(state, true);
  store.commit(true);
  store.close();
}

function runChild(args: readonly string[]): Promise<string | null> {
  return new Promise((resolve) => {
    const script = fileURLToPath(import.meta.url);
    const child = spawn(process.execPath, ['--max-old-space-size=16384', script, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('close', (code) => {
      resolve(
        code === 0
          ? null
          : `exit ${String(code)}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
      );
    });
  });
}

interface StartupResult {
  readonly readyMs: number;
  readonly rssKb: number;
  readonly hwmKb: number;
  /** "ok", what was missing, or "-" for a broker started without a store. */
  readonly check: string;
  /** Error and warning lines the broker wrote to stderr. */
  readonly complaints: readonly string[];
}

function procStatusKb(pid: number, field: string): number {
  const text = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match?.[1] === undefined ? Number.NaN : Number(match[1]);
}

/**
 * Whether the state came back: session 0 resumes (session present) and gets its K queued
 * messages; a subscription to one retained topic gets its message.
 */
function checkState(port: number, shape: StoreShape): Promise<string> {
  const wantQueued = shape.sessions > 0 ? shape.queued : 0;
  const wantRetained = shape.retained > 0 ? 1 : 0;
  return new Promise((resolve) => {
    const client = mqttConnect({
      host: '127.0.0.1',
      port,
      protocolVersion: 4,
      clientId: shape.sessions > 0 ? sessionId(0) : 'bench-check',
      clean: shape.sessions === 0,
      reconnectPeriod: 0,
      connectTimeout: 60_000,
    });
    let present = false;
    let queued = 0;
    let retained = 0;
    let settled = false;
    const finish = (error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end(true);
      if (error !== undefined) {
        resolve(`check failed: ${error}`);
        return;
      }
      const ok =
        (shape.sessions === 0 || present) && queued >= wantQueued && retained >= wantRetained;
      resolve(
        ok
          ? 'ok'
          : `session present ${String(present)}, queued ${String(queued)}/${String(wantQueued)}, retained ${String(retained)}/${String(wantRetained)}`,
      );
    };
    const timer = setTimeout(() => {
      finish();
    }, 30_000);
    client.on('connect', (connack) => {
      present = connack.sessionPresent;
      if (wantRetained > 0) client.subscribe(retainTopic(0), { qos: 1 });
      else if (wantQueued === 0) finish();
    });
    client.on('message', (topic) => {
      if (topic === retainTopic(0)) retained++;
      else if (topic.startsWith('bench/queued/')) queued++;
      if (queued >= wantQueued && retained >= wantRetained) finish();
    });
    client.on('error', (error) => {
      finish(error.message);
    });
  });
}

interface StartupFiles {
  readonly db: string | null;
  readonly sqlite: string | null;
}

async function runStartup(
  rows: readonly Row[],
  files: StartupFiles,
  shape: StoreShape,
  options: Options,
  m21: Mosquitto21 | null,
  workDir: string,
): Promise<Map<string, Outcome<StartupResult>[]>> {
  const byKey = new Map(rows.map((row) => [row.key, row]));
  // The store copy of the run before (removed when the next starts, or at the end).
  const last: { dir: string | null } = { dir: null };
  const contenders: Contenders<string, StartupResult> = {
    keys: rows.map((row) => row.key),
    rounds: options.rounds,
    start: async (key) => {
      const row = byKey.get(key);
      if (row === undefined) throw new Error(`no row ${key}`);
      if (last.dir !== null) await rm(last.dir, { recursive: true, force: true });
      const dir = await mkdtemp(join(workDir, `startup-${key}-`));
      last.dir = dir;
      const copy = async (from: string, name: string): Promise<void> => {
        await copyFile(from, join(dir, name));
        // Mosquitto 2.1 warns about a world-readable store.
        await chmod(join(dir, name), 0o600);
      };
      if (row.store === 'db' && files.db !== null) await copy(files.db, 'mosquitto.db');
      if (row.store === 'sqlite' && files.sqlite !== null) {
        await copy(files.sqlite, 'mosquitto.sqlite3');
      }
      // Drop the copy from the page cache's dirty list, so no start-up pays for writeback.
      spawnSync('sync');
      return startRow(row, dir, options, m21, false, { startTimeoutMs: 600_000, pollMs: 5 });
    },
    run: async (key, broker) => {
      const rssAtReady = procStatusKb(broker.pid, 'VmRSS');
      await sleep(1000);
      const gone = broker.exitReason();
      if (gone !== null) return { kind: 'failed', error: `broker ${gone}` };
      const rssKb = procStatusKb(broker.pid, 'VmRSS');
      const hwmKb = Math.max(procStatusKb(broker.pid, 'VmHWM'), rssAtReady);
      const check = byKey.get(key)?.store === 'none' ? '-' : await checkState(broker.port, shape);
      const complaints = broker
        .stderrLines()
        .filter((line) => /error|warning|corrupt|unable|cannot/i.test(line))
        .filter((line) => !/should not be run as root/.test(line));
      return { kind: 'ok', result: { readyMs: broker.readyMs, rssKb, hwmKb, check, complaints } };
    },
    done: (round, key, outcome) => {
      const label = byKey.get(key)?.label ?? key;
      const prefix = `  round ${String(round + 1)}/${String(options.rounds)}  ${label}: `;
      if (outcome.kind === 'ok') {
        const r = outcome.result;
        write(
          `${prefix}listening after ${r.readyMs.toFixed(0)} ms, VmRSS ${formatBytes(r.rssKb * 1024)}, ` +
            `VmHWM ${formatBytes(r.hwmKb * 1024)}, state ${r.check}` +
            (r.complaints.length > 0 ? `; stderr: ${r.complaints.join(' | ')}` : ''),
        );
      } else {
        write(
          `${prefix}${outcome.kind === 'not-started' ? 'failed to start' : 'failed'} (${outcome.error})`,
        );
      }
    },
  };
  // SIGKILL: a shutdown save of the whole store is not what is measured.
  const runs = await runFreshRounds(contenders, 'SIGKILL');
  if (last.dir !== null) await rm(last.dir, { recursive: true, force: true });
  return runs;
}

function startupTable(
  rows: readonly Row[],
  runs: Map<string, Outcome<StartupResult>[]>,
  files: StartupFiles,
): string[] {
  const table = rows.map((row) => {
    const outcomes = runs.get(row.key) ?? [];
    const results = outcomes.flatMap((o) => (o.kind === 'ok' ? [o.result] : []));
    const failed = outcomes.find((o) => o.kind !== 'ok');
    const size =
      row.store === 'db' && files.db !== null
        ? formatBytes(statSync(files.db).size)
        : row.store === 'sqlite' && files.sqlite !== null
          ? formatBytes(statSync(files.sqlite).size)
          : '-';
    if (results.length === 0) {
      return [
        row.label,
        size,
        failed === undefined ? '-' : failed.kind === 'not-started' ? 'failed to start' : 'failed',
        '',
        '',
        '',
      ];
    }
    const ms = median(results.map((r) => r.readyMs)) ?? 0;
    const rss = median(results.map((r) => r.rssKb)) ?? 0;
    const hwm = median(results.map((r) => r.hwmKb)) ?? 0;
    const checks = [...new Set(results.map((r) => r.check))].join('; ');
    return [
      row.label,
      size,
      `${integer(ms)}${results.length < outcomes.length ? ` (${String(results.length)}/${String(outcomes.length)} runs)` : ''}`,
      formatBytes(rss * 1024),
      formatBytes(hwm * 1024),
      checks,
    ];
  });
  return renderMarkdown(
    [
      'Broker, store',
      'store file',
      'spawn -> listening ms',
      'VmRSS after 1 s',
      'VmHWM (peak)',
      'state check',
    ],
    table,
    1,
  );
}

/** Failures and what brokers said on stderr, once per row and line. */
function startupComplaints(
  rows: readonly Row[],
  runs: Map<string, Outcome<StartupResult>[]>,
): string[] {
  const notes = new Set<string>();
  for (const row of rows) {
    for (const outcome of runs.get(row.key) ?? []) {
      if (outcome.kind !== 'ok') {
        notes.add(
          `${row.label}: ${outcome.kind === 'not-started' ? 'failed to start' : 'failed'} (${outcome.error})`,
        );
      } else {
        for (const line of outcome.result.complaints)
          notes.add(`${row.label} said: ${line.trim()}`);
      }
    }
  }
  return [...notes];
}

async function part2(
  startupRows: readonly Row[],
  options: Options,
  m21: Mosquitto21 | null,
  workDir: string,
  report: string[],
): Promise<void> {
  const shape: StoreShape = {
    retained: options.retained,
    sessions: options.sessions,
    queued: options.queued,
  };
  const title =
    `Start-up with a large store: ${integer(shape.retained)} retained messages, ${integer(shape.sessions)} ` +
    `durable sessions x ${integer(shape.queued)} queued QoS 1 messages (64 B payloads)`;
  write(`\n${title}`);
  const started = Date.now();
  const notes: string[] = [];
  const genDir = join(workDir, 'generated');
  await mkdir(genDir, { recursive: true });
  const dbPath = join(genDir, 'mosquitto.db');
  let db: string | null = null;
  let t0 = performance.now();
  try {
    await writeGeneratedDb(dbPath, shape);
    db = dbPath;
    const line = `  mosquitto.db written with our codec in ${((performance.now() - t0) / 1000).toFixed(1)} s (${formatBytes(statSync(dbPath).size)})`;
    write(line);
    notes.push(line.trim());
  } catch (error) {
    notes.push(`mosquitto.db not generated: ${errorText(error)}`);
    write(`  ${notes[notes.length - 1] ?? ''}`);
  }
  let sqlite: string | null = null;
  if (db !== null) {
    const sqlitePath = join(genDir, 'mosquitto.sqlite3');
    t0 = performance.now();
    const failure = await runChild([INTERNAL_SQLITE, db, sqlitePath]);
    if (failure === null) {
      sqlite = sqlitePath;
      const line = `  mosquitto.sqlite3 written by our SQLite store from the same state in ${((performance.now() - t0) / 1000).toFixed(1)} s (${formatBytes(statSync(sqlitePath).size)})`;
      write(line);
      notes.push(line.trim());
    } else {
      notes.push(`SQLite rows skipped: could not write mosquitto.sqlite3 (${failure})`);
      write(`  ${notes[notes.length - 1] ?? ''}`);
    }
  }
  const rows = startupRows.filter((row) => {
    if (row.program === 'mosquitto21' && m21 === null) return false;
    if (row.store === 'db' && db === null) return false;
    if (row.store === 'sqlite' && sqlite === null) return false;
    return true;
  });
  const runs = await runStartup(rows, { db, sqlite }, shape, options, m21, workDir);
  report.push(
    '',
    `### 2. ${title}`,
    '',
    ...startupTable(rows, runs, { db, sqlite }),
    '',
    ...notes,
    ...startupComplaints(rows, runs),
    `Each start on a fresh copy of the store; "spawn -> listening": from spawn() of the broker until 127.0.0.1:<port>`,
    'accepts a TCP connection (polled every 5 ms); VmRSS read 1 s after that, VmHWM the peak so far. State check:',
    `session ${sessionId(0)} resumes with its ${integer(shape.queued)} queued messages and ${retainTopic(0)} is retained.`,
    `Brokers are stopped with SIGKILL (no shutdown save). Medians of the rounds; part 2 took ${minutesSince(started)} min.`,
  );
}

// ---- Main ------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.argv[2] === INTERNAL_SQLITE) {
    const [db, sqlite] = process.argv.slice(3);
    if (db === undefined || sqlite === undefined) throw new Error('missing paths');
    await makeSqliteFromDb(db, sqlite);
    return;
  }
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${errorText(error)}\n${USAGE}\n`);
    process.exitCode = error instanceof UsageError || error instanceof TypeError ? 2 : 1;
    return;
  }
  const found = findMosquitto21(options.mosquitto21Dir);
  const m21 = typeof found === 'string' ? null : found;
  const notes: string[] = [];
  if (typeof found === 'string')
    notes.push(`Mosquitto 2.1 rows skipped: ${found} (--mosquitto21 <build dir>)`);
  const machine = describeMachine();
  const rows = withVersions(ROWS, machine.mosquitto, m21?.version ?? null)
    .filter((row) => options.rows.includes(row.key))
    .filter((row) => row.program !== 'mosquitto21' || m21 !== null);
  const startupRows = withVersions(STARTUP_ROWS, machine.mosquitto, m21?.version ?? null);
  const started = Date.now();
  write('# mosquitto-ts persistence benchmark');
  write('');
  for (const line of formatMachine(machine)) write(line);
  write(
    `Mosquitto 2.1: ${m21 === null ? 'not available' : `${m21.version} (${m21.binary}, ${m21.plugin})`}; ` +
      `stores under ${tmpdir()}; ${String(options.rounds)} rounds (medians); TCP_NODELAY ${options.tcpNoDelay ? 'on' : 'off'}`,
  );
  for (const note of notes) write(note);

  const loadgen = await compileLoadgen();
  const workDir = await mkdtemp(join(tmpdir(), 'mosquitto-ts-persistence-'));
  const report: string[] = [];
  try {
    if (options.parts.includes('1')) {
      const t = Date.now();
      const scenario = durableQos1();
      const result = await runRows(scenario, options, rows, options, m21, loadgen.binary, workDir);
      report.push(
        '',
        `### 1. ${scenario.title(options)}`,
        '',
        `${String(options.duration)} s measured after ${String(options.warmup)} s warm-up per run; part 1 took ${minutesSince(t)} min.`,
        '',
        ...throughputTable(rows, result, scenario),
        '',
        ...failureNotes(rows, result.runs),
        'Store directories after the runs (brokers stopped with SIGTERM):',
        ...rows.map((row) => `  ${row.label}: ${result.storeFiles.get(row.key) ?? '-'}`),
      );
    }
    if (options.parts.includes('2')) await part2(startupRows, options, m21, workDir, report);
    if (options.parts.includes('3')) {
      const t = Date.now();
      const scenario = pubackScenario(options.ackRate);
      const settings: RunSettings = { ...options, duration: options.ackDuration };
      const result = await runRows(scenario, settings, rows, options, m21, loadgen.binary, workDir);
      report.push(
        '',
        `### 3. ${scenario.title(settings)}`,
        '',
        `${String(settings.duration)} s measured after ${String(settings.warmup)} s per run; latency from writing the PUBLISH`,
        `to reading its PUBACK, p50/p99 of each run, medians over the rounds; part 3 took ${minutesSince(t)} min.`,
        '',
        ...latencyTable(rows, result, scenario),
        '',
        ...failureNotes(rows, result.runs),
      );
    }
  } finally {
    await loadgen.dispose();
    await rm(workDir, { recursive: true, force: true });
  }
  write('');
  write(`## Results (${minutesSince(started)} min)`);
  for (const line of report) write(line);
  const legend = [
    '',
    'Stores: mosquitto.db rows: persistence true, persistence_location <dir>/, and in parts 1 and 3',
    'autosave_interval 1 (part 2: the default, 1800 s). SQLite rows: plugin',
    '.../mosquitto_persist_sqlite.so, plugin_opt_db_file <dir>/mosquitto.sqlite3 (default sync normal,',
    'flush_period 5; ours with persistence_durable_ack true commits with synchronous FULL before each',
    'acknowledgement). Other lines as in `npm run bench` (max_queued_messages 10000,',
    'max_inflight_messages 20, log_type error and warning); Mosquitto as root with user root.',
    'CPU: user+sys of the broker / load generator / all other processes, % of one core, medians.',
  ];
  for (const line of legend) write(line);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
