/**
 * Debian's real Mosquitto (2.0.11 on Debian 12) as the reference peer: where its binaries
 * are, how a test requires them, and the real broker as a BrokerTarget (see process.ts).
 *
 * A missing binary skips the test with MOSQUITTO_SKIP_MESSAGE on a developer machine, but
 * fails it when process.env.CI === 'true': in CI the reference must be there (.ci/run
 * installs it), and a silently skipped interop suite would prove nothing.
 */
import type { TestContext } from 'node:test';
import { execFileSync } from 'node:child_process';
import { findOnPath, isExecutable } from './children.ts';
import {
  BrokerStartError,
  startBrokerProcess,
  type BrokerStartOptions,
  type BrokerTarget,
  type RunningBroker,
} from './process.ts';

export const MOSQUITTO_SKIP_MESSAGE =
  "needs Debian's Mosquitto: apt-get install -y mosquitto mosquitto-clients";

/** Where Debian's packages put each program. */
const debianPaths = {
  mosquitto: '/usr/sbin/mosquitto',
  mosquitto_pub: '/usr/bin/mosquitto_pub',
  mosquitto_sub: '/usr/bin/mosquitto_sub',
  mosquitto_rr: '/usr/bin/mosquitto_rr',
  mosquitto_passwd: '/usr/bin/mosquitto_passwd',
  mosquitto_ctrl: '/usr/bin/mosquitto_ctrl',
} as const;

export type MosquittoProgram = keyof typeof debianPaths;

export function isCi(): boolean {
  return process.env.CI === 'true';
}

/** The program's path: Debian's location first, then PATH; null when not installed. */
export function mosquittoPath(program: MosquittoProgram): string | null {
  const debian = debianPaths[program];
  return isExecutable(debian) ? debian : findOnPath(program);
}

/** The programs of `programs` that are not installed. */
export function missingPrograms(programs: readonly MosquittoProgram[]): MosquittoProgram[] {
  return programs.filter((program) => mosquittoPath(program) === null);
}

function missingMessage(missing: readonly MosquittoProgram[]): string {
  const ci = isCi() ? ' (CI=true: a missing reference binary is a failure, not a skip)' : '';
  return `${MOSQUITTO_SKIP_MESSAGE} — missing: ${missing.join(', ')}${ci}`;
}

/**
 * For `describe(name, mosquittoSkip([...]), ...)` / `test(name, mosquittoSkip(), ...)`:
 * `{ skip: message }` when a program is missing outside CI, else `{}` (in CI the test then
 * runs and fails on the first use of the missing program, with the message above).
 */
export function mosquittoSkip(programs: readonly MosquittoProgram[] = ['mosquitto']): {
  skip?: string;
} {
  const missing = missingPrograms(programs);
  if (missing.length === 0 || isCi()) return {};
  return { skip: MOSQUITTO_SKIP_MESSAGE };
}

/**
 * Inside a test: true when the programs are installed. Otherwise skips the test (returns
 * false; the caller returns) or, in CI, throws.
 */
export function requireMosquitto(
  t: TestContext,
  programs: readonly MosquittoProgram[] = ['mosquitto'],
): boolean {
  const missing = missingPrograms(programs);
  if (missing.length === 0) return true;
  if (isCi()) throw new Error(missingMessage(missing));
  t.skip(MOSQUITTO_SKIP_MESSAGE);
  return false;
}

/** The path of a program that must be there (throws the install hint otherwise). */
export function requiredPath(program: MosquittoProgram): string {
  const path = mosquittoPath(program);
  if (path === null) throw new Error(missingMessage([program]));
  return path;
}

let cachedVersion: string | null = null;

/** The real broker's version, e.g. '2.0.11' (from the first line of `mosquitto -h`). */
export function mosquittoVersion(): string {
  if (cachedVersion !== null) return cachedVersion;
  let text: string;
  try {
    text = execFileSync(requiredPath('mosquitto'), ['-h'], { encoding: 'utf8' });
  } catch (error) {
    // 2.0.11 exits with status 3 after printing its help; the text is what we want.
    const stdout = (error as { stdout?: unknown }).stdout;
    text = typeof stdout === 'string' ? stdout : '';
  }
  const match = /mosquitto version (\d+\.\d+\.\d+)/.exec(text);
  if (match?.[1] === undefined) throw new Error(`cannot read the version of mosquitto: ${text}`);
  cachedVersion = match[1];
  return cachedVersion;
}

/** -1, 0 or 1 as version `a` is older than, equal to or newer than `b` ('2.0.11' style). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** Debian's broker on a free port: `mosquitto -c <temp config>`. */
export async function startRealBroker(options: BrokerStartOptions = {}): Promise<RunningBroker> {
  const path = mosquittoPath('mosquitto');
  if (path === null) throw new BrokerStartError(missingMessage(['mosquitto']), '');
  const label = `mosquitto ${mosquittoVersion()}`;
  return startBrokerProcess(
    {
      kind: 'mosquitto',
      label,
      command: path,
      args: (configPath) => ['-c', configPath],
      // Run as root (CI is), mosquitto would switch to the 'mosquitto' user, which cannot
      // read the test's temporary directory and which would also clear the parent-death
      // signal that guards against leaked brokers (children.ts).
      preamble: process.getuid?.() === 0 ? ['user root'] : [],
    },
    options,
  );
}

export const realMosquitto: BrokerTarget = {
  kind: 'mosquitto',
  get label(): string {
    return mosquittoPath('mosquitto') === null ? 'mosquitto' : `mosquitto ${mosquittoVersion()}`;
  },
  start: startRealBroker,
};
