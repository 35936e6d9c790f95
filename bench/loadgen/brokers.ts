/**
 * The brokers under test, each started in a process of its own on a port of its own, with
 * the same limits (see brokerConfig), so that /proc/<pid> shows the broker's CPU and RSS only.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * In report order: ours, then the reference (Mosquitto 2.1.2, built from tag v2.1.2), Debian's
 * Mosquitto 2.0.11, Aedes, and the bare relay (bench/relay.ts: the ceiling of a Node QoS 0
 * forwarder; only in the scenarios it can serve).
 */
export const BROKER_NAMES = ['ours', 'mosquitto-2.1', 'mosquitto', 'aedes', 'relay'] as const;
export type BrokerName = (typeof BROKER_NAMES)[number];

/** The broker that the ratios of the report are taken against first. */
export const REFERENCE_BROKER: BrokerName = 'mosquitto-2.1';

/** Debian's Mosquitto 2.0.11 (the broker named "mosquitto"). */
export const MOSQUITTO_BINARY = '/usr/sbin/mosquitto';

/** Mosquitto 2.1.2, built from the v2.1.2 tag; MOSQUITTO_21_BINARY overrides the path. */
export const MOSQUITTO_21_BINARY =
  process.env.MOSQUITTO_21_BINARY ?? '/work/ref/m212/bin/mosquitto';

const INSTALL_HINTS: Partial<Record<BrokerName, string>> = {
  mosquitto: `${MOSQUITTO_BINARY} not found; install with: apt-get install -y mosquitto mosquitto-clients`,
  'mosquitto-2.1': `${MOSQUITTO_21_BINARY} not found; build Mosquitto v2.1.2 (make WITH_CJSON=yes) and set MOSQUITTO_21_BINARY to its src/mosquitto`,
};

/** Why `name` cannot run on this machine, or null when it is installed. */
export function brokerMissing(name: BrokerName): string | null {
  if (name === 'mosquitto' && !existsSync(MOSQUITTO_BINARY)) return INSTALL_HINTS.mosquitto ?? '';
  if (name === 'mosquitto-2.1' && !existsSync(MOSQUITTO_21_BINARY))
    return INSTALL_HINTS['mosquitto-2.1'] ?? '';
  return null;
}

/** dist/bench/loadgen/ -> the repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Our broker, started as users start it (bin/mosquitto's shebang line). */
export const OUR_BINARY = join(REPO_ROOT, 'bin', 'mosquitto');

const START_TIMEOUT_MS = 10_000;
/** Open files limit the brokers are started with where the user may raise it (root). */
export const OPEN_FILES_WANTED = 65_536;
const STOP_TIMEOUT_MS = 3_000;
const STDERR_LINES_KEPT = 20;

export class BrokerStartError extends Error {}

/**
 * mosquitto.conf for Debian's Mosquitto and for ours (the same file, so both run with the
 * same limits):
 * - persistence off, anonymous clients on one 127.0.0.1 listener;
 * - max_queued_messages 10000 (default 1000): the generator never lets more than its window
 *   (at most 2,000 messages) wait for one subscriber, so this limit cannot drop QoS 0 or
 *   QoS 1 messages, while 0 (unlimited) would hide a runaway queue; `lost` checks every run;
 * - max_inflight_messages 20 (the default) for QoS 1 towards subscribers;
 * - logging of errors and warnings only: connection notices for 10,000 clients would cost
 *   the broker CPU in the measured window and fill the pipe we read stderr from;
 * - set_tcp_nodelay false (Mosquitto's default) unless `tcpNoDelay`: Nagle's algorithm
 *   shapes how each broker's writes reach the subscribers, so the default run measures what
 *   users get out of the box and `--tcp-nodelay` shows the difference.
 */
export function brokerConfig(
  port: number,
  tcpNoDelay: boolean,
  /** The lines that choose a store (bench/persistence.ts); by default none. */
  persistence: readonly string[] = ['persistence false'],
): string {
  return [
    '# Written by bench/broker.ts for one benchmark run.',
    `listener ${String(port)} 127.0.0.1`,
    'allow_anonymous true',
    ...persistence,
    'max_queued_messages 10000',
    'max_inflight_messages 20',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'connection_messages false',
    ...(tcpNoDelay ? ['set_tcp_nodelay true'] : []),
    '',
  ].join('\n');
}

export interface RunningBroker {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** Milliseconds from spawn() until the port first accepted a TCP connection. */
  readonly readyMs: number;
  /** Null while the process runs; otherwise how it ended. */
  exitReason(): string | null;
  /** The last lines the broker wrote to stderr (at most 20). */
  stderrLines(): string[];
  /** SIGTERM (SIGKILL after 3 s), or straight SIGKILL: no shutdown save to wait for. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Peak RSS of the process (VmHWM) in kB: read at stop(), live before; null if unreadable. */
  peakRssKb(): number | null;
}

/** VmHWM (the peak resident set) of process `pid` in kB, or null. */
export function peakRssOf(pid: number): number | null {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
    return match?.[1] === undefined ? null : Number(match[1]);
  } catch {
    return null;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

export interface BrokerOptions {
  /** Disable Nagle's algorithm on client sockets (set_tcp_nodelay / socket.setNoDelay). */
  readonly tcpNoDelay: boolean;
  /**
   * Also open a `protocol http_api` listener (HTTP API and /metrics) on a free port, to
   * measure what having it costs (ours and mosquitto-2.1 only).
   */
  readonly httpApi?: boolean;
}

/** A TLS listener instead of plain TCP: certificate and key files, and the one version. */
export interface TlsListener {
  readonly cafile: string;
  readonly certfile: string;
  readonly keyfile: string;
  readonly version: '1.2' | '1.3';
}

/** What one scenario changes in every broker's set-up. */
export interface ScenarioBrokerSetup {
  readonly tls?: TlsListener;
}

/** mosquitto.conf lines that make the (only) listener a TLS one. */
export function tlsConfigLines(tls: TlsListener): string[] {
  return [
    `cafile ${tls.cafile}`,
    `certfile ${tls.certfile}`,
    `keyfile ${tls.keyfile}`,
    `tls_version tlsv${tls.version}`,
  ];
}

async function commandFor(
  name: BrokerName,
  port: number,
  workDir: string,
  options: BrokerOptions,
  setup: ScenarioBrokerSetup,
): Promise<string[]> {
  const missing = brokerMissing(name);
  if (missing !== null) throw new BrokerStartError(missing);
  const configFile = join(workDir, `${name}-${String(port)}.conf`);
  const httpApi =
    options.httpApi === true
      ? `listener ${String(await freePort())} 127.0.0.1\nprotocol http_api\n`
      : '';
  const config = (): string =>
    brokerConfig(port, options.tcpNoDelay) +
    (setup.tls === undefined ? '' : `${tlsConfigLines(setup.tls).join('\n')}\n`) +
    httpApi;
  const noDelay = options.tcpNoDelay ? ['--tcp-nodelay'] : [];
  switch (name) {
    case 'ours':
      await writeFile(configFile, config());
      return [OUR_BINARY, '-c', configFile];
    case 'mosquitto':
    case 'mosquitto-2.1':
      await writeFile(configFile, config());
      return [name === 'mosquitto' ? MOSQUITTO_BINARY : MOSQUITTO_21_BINARY, '-c', configFile];
    case 'aedes': {
      const script = join(REPO_ROOT, 'dist', 'bench', 'aedes-server.js');
      const tls =
        setup.tls === undefined
          ? []
          : ['--tls', setup.tls.certfile, setup.tls.keyfile, setup.tls.version];
      return [process.execPath, script, String(port), ...noDelay, ...tls];
    }
    case 'relay':
      if (setup.tls !== undefined) throw new BrokerStartError('the relay has no TLS');
      return [
        process.execPath,
        join(REPO_ROOT, 'dist', 'bench', 'relay.js'),
        String(port),
        ...noDelay,
      ];
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

function describeExit(
  code: number | null,
  signal: NodeJS.Signals | null,
  stderr: string[],
): string {
  const how = signal === null ? `exited with code ${String(code)}` : `killed by ${signal}`;
  const lines = stderr.filter((line) => line.trim() !== '');
  const last = lines.slice(-3);
  // A Node stack trace ends in "at ..." lines: its first line says what went wrong.
  const error = lines.find((line) => /^\w*Error\b/.test(line.trim()));
  if (error !== undefined && !last.includes(error)) last.unshift(error.trim());
  return last.length === 0 ? how : `${how}: ${last.join(' | ')}`;
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      resolve(false);
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Starts `name` on a free port and resolves once the port accepts TCP connections.
 * Rejects with BrokerStartError (exit code and last stderr lines) if it exits or never listens.
 */
export async function startBroker(
  name: BrokerName,
  workDir: string,
  options: BrokerOptions,
  setup: ScenarioBrokerSetup = {},
): Promise<RunningBroker> {
  const port = await freePort();
  const command = await commandFor(name, port, workDir, options, setup);
  return spawnBroker(name, command, port);
}

export interface SpawnOptions {
  /** How long the broker may take to listen (default 10 s). */
  readonly startTimeoutMs?: number;
  /** Pause between connection attempts while waiting (default 50 ms). */
  readonly pollMs?: number;
}

/**
 * Runs `command` (a broker that will listen on 127.0.0.1:`port`) and resolves once the port
 * accepts TCP connections; rejects with BrokerStartError if it exits or never listens.
 */
export async function spawnBroker(
  name: string,
  command: readonly string[],
  port: number,
  spawnOptions: SpawnOptions = {},
): Promise<RunningBroker> {
  const startTimeoutMs = spawnOptions.startTimeoutMs ?? START_TIMEOUT_MS;
  const pollMs = spawnOptions.pollMs ?? 50;
  const spawnedAt = performance.now();
  // Through sh only to raise the limit of open files (50,000 clients need as many
  // descriptors): to 65,536 where allowed (root), else the soft limit to the hard one; exec
  // keeps the broker's pid the one we measure.
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      `ulimit -n ${String(OPEN_FILES_WANTED)} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`,
      'sh',
      ...command,
    ],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const stderr: string[] = [];
  let spawnError: string | null = null;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let stopped = false;
  // Always drained: a broker blocked on a full stderr pipe would stall the benchmark.
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr.push(...chunk.split('\n'));
    stderr.splice(0, Math.max(0, stderr.length - STDERR_LINES_KEPT));
  });
  child.on('error', (error) => {
    spawnError = `cannot spawn: ${error.message}`;
  });
  child.on('exit', (code, signal) => {
    exit = { code, signal };
  });
  const exitReason = (): string | null => {
    if (stopped) return 'stopped';
    if (spawnError !== null) return spawnError;
    return exit === null ? null : describeExit(exit.code, exit.signal, stderr);
  };
  const pid = child.pid;
  let peakAtStop: number | null = null;
  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> => {
    if (stopped || exitReason() !== null) return;
    if (pid !== undefined) peakAtStop = peakRssOf(pid);
    stopped = true;
    child.kill(signal);
    if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
      child.kill('SIGKILL');
      await waitForExit(child, STOP_TIMEOUT_MS);
    }
  };
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (exitReason() !== null || pid === undefined) {
      // Let the last stderr chunk arrive before reporting why.
      await new Promise((resolve) => setTimeout(resolve, 100));
      throw new BrokerStartError(exitReason() ?? 'cannot spawn');
    }
    if (await canConnect(port)) {
      return {
        name,
        pid,
        port,
        readyMs: performance.now() - spawnedAt,
        exitReason,
        stderrLines: () => [...stderr],
        stop,
        peakRssKb: () => (stopped ? peakAtStop : peakRssOf(pid)),
      };
    }
    if (Date.now() > deadline) {
      await stop();
      throw new BrokerStartError(
        `did not listen on port ${String(port)} within ${String(startTimeoutMs / 1000)} s`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
