/**
 * `mosquitto.db` files written by a real Mosquitto in the test: a broker with
 * `persistence true` gets retained messages (one with MQTT 5 properties), two durable
 * sessions (MQTT 3.1.1 clean session 0, MQTT 5 session expiry) with subscriptions, one of
 * them shared, and QoS 1 and 2 messages queued for them; SIGTERM then makes it save.
 *
 * The brokers: Debian's 2.0.11 (mosquitto.ts: required, a skip outside CI) and builds of
 * Mosquitto 2.0.22 and 2.1.2 where a developer machine has them (MOSQUITTO_2022_BIN,
 * MOSQUITTO_212_BIN, by default /work/ref/m2022/bin and /work/ref/m212/bin). CI has no
 * such builds: the tests that need them skip with REFERENCE_SKIP_MESSAGE there too.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isExecutable, trackTempDir } from './children.ts';
import { runCommand } from './command.ts';
import { requiredPath, startRealBroker } from './mosquitto.ts';
import { startBrokerProcess, type RunningBroker } from './process.ts';

const REF_2022 = process.env.MOSQUITTO_2022_BIN ?? '/work/ref/m2022/bin';
const REF_212 = process.env.MOSQUITTO_212_BIN ?? '/work/ref/m212/bin';

/** A program of a reference build, or null where this machine has none. */
export function referenceProgram(version: '2.0.22' | '2.1.2', program: string): string | null {
  const path = join(version === '2.0.22' ? REF_2022 : REF_212, program);
  return isExecutable(path) ? path : null;
}

export function referenceSkipMessage(version: '2.0.22' | '2.1.2', program: string): string {
  const dir = version === '2.0.22' ? 'MOSQUITTO_2022_BIN' : 'MOSQUITTO_212_BIN';
  return (
    `needs a build of Mosquitto ${version} (${program} in $${dir}, ` +
    `${version === '2.0.22' ? REF_2022 : REF_212}); CI has none, so this comparison is skipped there`
  );
}

export interface RealDb {
  /** 'mosquitto 2.0.11', 'mosquitto 2.0.22'. */
  readonly label: string;
  readonly path: string;
  readonly data: Buffer;
  readonly port: number;
  /** Unix seconds just before the first message and just after the save. */
  readonly startedAt: number;
  readonly savedAt: number;
}

/** The real broker of `version`: Debian's for '2.0.11', the reference build for '2.0.22'. */
async function startBroker(version: '2.0.11' | '2.0.22', dbDir: string): Promise<RunningBroker> {
  const config = ['persistence true', `persistence_location ${dbDir}/`];
  if (version === '2.0.11') return startRealBroker({ config });
  const command = referenceProgram('2.0.22', 'mosquitto');
  if (command === null) throw new Error(referenceSkipMessage('2.0.22', 'mosquitto'));
  return startBrokerProcess(
    {
      kind: 'mosquitto',
      label: 'mosquitto 2.0.22',
      command,
      args: (configPath) => ['-c', configPath],
      // As in mosquitto.ts: as root it would otherwise switch to the 'mosquitto' user.
      preamble: process.getuid?.() === 0 ? ['user root'] : [],
    },
    { config },
  );
}

/** Runs Debian's mosquitto_pub or mosquitto_sub and requires exit status 0. */
async function client(program: 'mosquitto_pub' | 'mosquitto_sub', args: string[]): Promise<void> {
  const result = await runCommand(requiredPath(program), args, { timeoutMs: 10_000 });
  if (result.code !== 0) {
    throw new Error(
      `${program} ${args.join(' ')} exited with ${String(result.code ?? result.signal)}\n` +
        `${result.stdout}${result.stderr}`,
    );
  }
}

/** The scenario above, on a fresh broker of `version`; the saved file. */
export async function makeRealDb(version: '2.0.11' | '2.0.22'): Promise<RealDb> {
  const dbDir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-db-')));
  const broker = await startBroker(version, dbDir);
  const startedAt = Math.floor(Date.now() / 1000);
  try {
    const p = ['-h', broker.host, '-p', String(broker.port)];
    await client('mosquitto_pub', [
      ...p,
      ...['-i', 'pub-retain', '-V', '5', '-t', 'r/1', '-m', 'hello', '-r', '-q', '1'],
      ...['-D', 'publish', 'content-type', 'text/plain'],
      ...['-D', 'publish', 'user-property', 'k', 'v'],
      ...['-D', 'publish', 'correlation-data', 'abc'],
      ...['-D', 'publish', 'response-topic', 'resp/t'],
      ...['-D', 'publish', 'payload-format-indicator', '1'],
      ...['-D', 'publish', 'message-expiry-interval', '3600'],
    ]);
    await client('mosquitto_pub', [...p, '-i', 'pub-retain2', '-t', 'r/2', '-m', 'plain', '-r']);
    await client('mosquitto_sub', [
      ...p,
      ...['-c', '-i', 'durable311', '-q', '1', '-t', 'q/#', '-t', '$share/g/t', '-E'],
    ]);
    await client('mosquitto_sub', [
      ...p,
      ...['-V', '5', '-c', '-i', 'durable5', '-u', 'user5', '-x', '3600', '-q', '2'],
      ...['-t', 'q/#', '-D', 'subscribe', 'subscription-identifier', '7', '-E'],
    ]);
    await client('mosquitto_pub', [...p, '-i', 'pub-q1', '-q', '1', '-t', 'q/a', '-m', 'one']);
    await client('mosquitto_pub', [
      ...p,
      ...['-i', 'pub-q2', '-V', '5', '-q', '2', '-t', 'q/b', '-m', 'two'],
      ...['-D', 'publish', 'user-property', 'a', 'b'],
    ]);
  } finally {
    // SIGTERM: Mosquitto saves the database as it shuts down.
    await broker.stop();
  }
  const path = join(dbDir, 'mosquitto.db');
  return {
    label: `mosquitto ${version}`,
    path,
    data: readFileSync(path),
    port: broker.port,
    startedAt,
    savedAt: Math.floor(Date.now() / 1000),
  };
}
