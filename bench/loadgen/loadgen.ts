/**
 * Builds bench/loadgen/loadgen*.c with gcc into a temp dir and runs it; see loadgen.c for
 * why the generator is a single-threaded C program and how it keeps its own cost low.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The sources stay in bench/ (tsc does not copy them): dist/bench/loadgen/ -> bench/loadgen/. */
const SOURCE_DIR = fileURLToPath(new URL('../../../bench/loadgen/', import.meta.url));
const SOURCES = ['loadgen.c', 'loadgen_io.c', 'loadgen_tls.c', 'loadgen_scale.c'].map((file) =>
  join(SOURCE_DIR, file),
);

/** OpenSSL's headers (Debian: libssl-dev): without them the generator has no --tls. */
const OPENSSL_HEADER = '/usr/include/openssl/ssl.h';

export interface CompiledLoadgen {
  readonly binary: string;
  /** Whether it was built with OpenSSL (else the TLS scenarios cannot run). */
  readonly tls: boolean;
  /** Removes the temp dir holding the binary. */
  dispose(): Promise<void>;
}

export async function compileLoadgen(): Promise<CompiledLoadgen> {
  const dir = await mkdtemp(join(tmpdir(), 'mosquitto-ts-loadgen-'));
  const binary = join(dir, 'loadgen');
  const tls = existsSync(OPENSSL_HEADER);
  const flags = tls ? ['-DLOADGEN_TLS'] : [];
  const libraries = tls ? ['-lssl', '-lcrypto'] : [];
  try {
    await execFileAsync('gcc', [
      '-O2',
      '-Wall',
      '-Wextra',
      ...flags,
      '-o',
      binary,
      ...SOURCES,
      ...libraries,
    ]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot compile ${SOURCE_DIR}loadgen*.c with gcc: ${detail}`, {
      cause: error,
    });
  }
  return {
    binary,
    tls,
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** What one run measured, in the generator's own window (warm-up excluded). */
export interface TrafficResult {
  readonly kind: 'traffic';
  /** Seconds of the measured window. */
  readonly elapsed: number;
  /** PUBLISH packets received by all subscribers in the window. */
  readonly delivered: number;
  /** PUBACKs received by publishers in the window (QoS 1 only). */
  readonly acked: number;
  readonly sent: number;
  /** Deliveries still missing after the drain phase (all messages of the run). */
  readonly lost: number;
  /** CPU seconds (user + sys) in the window: broker, generator, whole machine. */
  readonly brokerCpu: number;
  /** The second broker's (bench/bridge.ts: the subscribers'), 0 without --broker2-pid. */
  readonly broker2Cpu: number;
  readonly generatorCpu: number;
  readonly machineCpu: number;
  /** End-to-end latency in microseconds (latency mode only, else -1). */
  readonly latencyP50: number;
  readonly latencyP99: number;
  readonly latencyP999: number;
  readonly latencyMax: number;
  readonly latencySamples: number;
}

export interface ConnectionsResult {
  readonly kind: 'connections';
  readonly clients: number;
  readonly rssBeforeKb: number;
  readonly rssAfterKb: number;
  readonly connectSeconds: number;
  readonly elapsed: number;
  readonly brokerCpu: number;
  readonly generatorCpu: number;
}

/** The scale modes (subs, retained): a first phase (subscribing or storing), then traffic. */
export interface ScaleResult {
  readonly kind: 'scale';
  /** Subscriptions made or retained messages stored in the first phase. */
  readonly count: number;
  readonly setupSeconds: number;
  readonly setupBrokerCpu: number;
  readonly setupGeneratorCpu: number;
  /** Broker RSS before and after the first phase, and at the end. */
  readonly rssBeforeKb: number;
  readonly rssAfterKb: number;
  readonly rssEndKb: number;
  /** Second phase: routing window (subs) or receiving all retained messages (retained). */
  readonly elapsed: number;
  readonly delivered: number;
  readonly sent: number;
  readonly lost: number;
  readonly brokerCpu: number;
  readonly generatorCpu: number;
  readonly machineCpu: number;
}

export type LoadgenResult = TrafficResult | ConnectionsResult | ScaleResult;

export class LoadgenError extends Error {}

function field(record: Record<string, unknown>, key: string): number {
  const value = record[key];
  if (typeof value !== 'number') throw new LoadgenError(`loadgen output lacks "${key}"`);
  return value;
}

function parseResult(line: string): LoadgenResult {
  const parsed: unknown = JSON.parse(line);
  if (typeof parsed !== 'object' || parsed === null) {
    throw new LoadgenError(`unexpected loadgen output: ${line}`);
  }
  const record = parsed as Record<string, unknown>;
  if (typeof record.error === 'string') throw new LoadgenError(record.error);
  if (typeof record.count === 'number') {
    return {
      kind: 'scale',
      count: field(record, 'count'),
      setupSeconds: field(record, 'setup_seconds'),
      setupBrokerCpu: field(record, 'setup_broker_cpu'),
      setupGeneratorCpu: field(record, 'setup_gen_cpu'),
      rssBeforeKb: field(record, 'rss_before_kb'),
      rssAfterKb: field(record, 'rss_after_kb'),
      rssEndKb: field(record, 'rss_end_kb'),
      elapsed: field(record, 'elapsed'),
      delivered: field(record, 'delivered'),
      sent: field(record, 'sent'),
      lost: field(record, 'lost'),
      brokerCpu: field(record, 'broker_cpu'),
      generatorCpu: field(record, 'gen_cpu'),
      machineCpu: field(record, 'machine_busy'),
    };
  }
  if (typeof record.clients === 'number') {
    return {
      kind: 'connections',
      clients: field(record, 'clients'),
      rssBeforeKb: field(record, 'rss_before_kb'),
      rssAfterKb: field(record, 'rss_after_kb'),
      connectSeconds: field(record, 'connect_seconds'),
      elapsed: field(record, 'elapsed'),
      brokerCpu: field(record, 'broker_cpu'),
      generatorCpu: field(record, 'gen_cpu'),
    };
  }
  return {
    kind: 'traffic',
    elapsed: field(record, 'elapsed'),
    delivered: field(record, 'delivered'),
    acked: field(record, 'acked'),
    sent: field(record, 'sent'),
    lost: field(record, 'lost'),
    brokerCpu: field(record, 'broker_cpu'),
    broker2Cpu: field(record, 'broker2_cpu'),
    generatorCpu: field(record, 'gen_cpu'),
    machineCpu: field(record, 'machine_busy'),
    latencyP50: field(record, 'lat_p50_us'),
    latencyP99: field(record, 'lat_p99_us'),
    latencyP999: field(record, 'lat_p999_us'),
    latencyMax: field(record, 'lat_max_us'),
    latencySamples: field(record, 'lat_count'),
  };
}

/**
 * Runs the generator once against the broker on `port` (whose CPU and RSS it samples through
 * /proc/<brokerPid>). `args` are the scenario's loadgen flags. Rejects with LoadgenError.
 */
export function runLoadgen(
  binary: string,
  port: number,
  brokerPid: number,
  args: readonly string[],
  timeoutMs: number,
): Promise<LoadgenResult> {
  const argv = ['--port', String(port), '--broker-pid', String(brokerPid), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(binary, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new LoadgenError(`cannot run loadgen: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      if (line.startsWith('{')) {
        try {
          resolve(parseResult(line));
        } catch (error) {
          reject(error instanceof LoadgenError ? error : new LoadgenError(String(error)));
        }
        return;
      }
      const how =
        signal === 'SIGKILL' ? `timed out after ${String(timeoutMs)} ms` : `exit ${String(code)}`;
      reject(new LoadgenError(`loadgen ${how}: ${stderr.trim() || '(no output)'}`));
    });
  });
}
