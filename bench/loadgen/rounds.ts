/**
 * Interleaved rounds, shared by bench/broker.ts and bench/persistence.ts: the contenders
 * (brokers, or one broker in several configurations) take turns, each round starting one
 * further, so background load on the machine spreads over all of them; tables show medians.
 */
import { BrokerStartError } from './brokers.ts';
import type { RunningBroker } from './brokers.ts';
import { runLoadgen } from './loadgen.ts';
import type { Outcome, RunOutcome } from './report.ts';
import type { RunSettings, Scenario } from './scenarios.ts';

/** Pause between runs, so a broker has closed the previous run's clients before the next. */
export const SETTLE_MS = 300;

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Turn order of one round: rotated by the round number. */
export function rotation<T>(items: readonly T[], round: number): T[] {
  const shift = round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** Starts a broker; a failure to start is returned as its reason. */
export async function tryStart(
  start: () => Promise<RunningBroker>,
): Promise<RunningBroker | string> {
  try {
    return await start();
  } catch (error) {
    if (error instanceof BrokerStartError) return error.message;
    return `unexpected: ${errorText(error)}`;
  }
}

/** One run of the load generator for `scenario` against a started broker. */
export async function runScenarioOnce(
  loadgen: string,
  scenario: Scenario<string>,
  settings: RunSettings,
  broker: RunningBroker,
): Promise<RunOutcome> {
  const gone = broker.exitReason();
  if (gone !== null) return { kind: 'failed', error: `broker ${gone}` };
  try {
    const result = await runLoadgen(
      loadgen,
      broker.port,
      broker.pid,
      scenario.loadgenArgs(settings),
      scenario.timeout(settings) * 1000,
    );
    return { kind: 'ok', result };
  } catch (error) {
    await sleep(100);
    const exit = broker.exitReason();
    return {
      kind: 'failed',
      error: exit === null ? errorText(error) : `${errorText(error)}; broker ${exit}`,
    };
  }
}

/** What the round runners need to know about the contenders (keyed by K), measuring R. */
export interface Contenders<K extends string, R> {
  readonly keys: readonly K[];
  readonly rounds: number;
  start(key: K): Promise<RunningBroker>;
  /** One measurement against a started broker. */
  run(key: K, broker: RunningBroker): Promise<Outcome<R>>;
  /** Called after every run (progress lines). */
  done(round: number, key: K, outcome: Outcome<R>): void;
  /** Called when a contender of a shared run cannot start. */
  notStarted?(key: K, reason: string): void;
}

/**
 * One broker process per contender serves all rounds. A contender that failed to start or
 * failed a run sits out the remaining rounds (a hung broker would otherwise cost a setup
 * timeout per round).
 */
export async function runSharedRounds<K extends string, R>(
  contenders: Contenders<K, R>,
): Promise<Map<K, Outcome<R>[]>> {
  const runs = new Map<K, Outcome<R>[]>(contenders.keys.map((key) => [key, []]));
  const running = new Map<K, RunningBroker>();
  const out = new Set<K>();
  try {
    for (const key of contenders.keys) {
      const broker = await tryStart(() => contenders.start(key));
      if (typeof broker === 'string') {
        runs.get(key)?.push({ kind: 'not-started', error: broker });
        contenders.notStarted?.(key, broker);
      } else {
        running.set(key, broker);
      }
    }
    for (let round = 0; round < contenders.rounds; round++) {
      for (const key of rotation(contenders.keys, round)) {
        const broker = running.get(key);
        if (broker === undefined || out.has(key)) continue;
        const outcome = await contenders.run(key, broker);
        runs.get(key)?.push(outcome);
        contenders.done(round, key, outcome);
        if (outcome.kind !== 'ok') out.add(key);
        await sleep(SETTLE_MS);
      }
    }
  } finally {
    for (const broker of running.values()) await broker.stop();
  }
  return runs;
}

/** A fresh broker for every run (e.g. when the measurement is of a just-started broker). */
export async function runFreshRounds<K extends string, R>(
  contenders: Contenders<K, R>,
  stopSignal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
): Promise<Map<K, Outcome<R>[]>> {
  const runs = new Map<K, Outcome<R>[]>(contenders.keys.map((key) => [key, []]));
  const out = new Set<K>();
  for (let round = 0; round < contenders.rounds; round++) {
    for (const key of rotation(contenders.keys, round)) {
      if (out.has(key)) continue;
      const broker = await tryStart(() => contenders.start(key));
      let outcome: Outcome<R>;
      if (typeof broker === 'string') {
        outcome = { kind: 'not-started', error: broker };
      } else {
        try {
          outcome = await contenders.run(key, broker);
        } finally {
          await broker.stop(stopSignal);
        }
      }
      runs.get(key)?.push(outcome);
      contenders.done(round, key, outcome);
      if (outcome.kind !== 'ok') out.add(key);
      await sleep(SETTLE_MS);
    }
  }
  return runs;
}
