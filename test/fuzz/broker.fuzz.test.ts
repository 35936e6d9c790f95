/**
 * Seeded hostile-input fuzzer for the broker over real sockets. Many raw TCP clients,
 * up to CONCURRENCY at a time, each play one conversation (broker-cases.ts: a valid
 * CONNECT then mutants of real packets, a mutated CONNECT, or an attack from the hostile
 * catalogue), cut into random writes, against two in-process brokers (Mosquitto's
 * defaults, and one with small limits and a mount point). Each connection is judged by
 * broker-oracle.ts (closes when it should, answers when it should, sends only valid
 * packets, MQTT 5 DISCONNECTs carry error codes). Across the run:
 *  - no uncaught exception or unhandled rejection in the process (the broker is in it);
 *  - every connection got its "New connection" log line, and every close a close line;
 *  - once every client is gone and broker time has moved past session expiry, nothing is
 *    left: no connection, deadline, session or subscription, and (after the retained
 *    messages and long-delayed wills the run left are deleted or sent) heap plus Buffer
 *    memory is back near the level measured after a warm-up batch;
 *  - a well-behaved MQTT.js client still gets a publish/subscribe round trip.
 *
 * Broker time is a ManualClock, moved forward 61 s every ADVANCE_EVERY conversations, so
 * keepalive timeouts and session expiry also happen in the middle of conversations.
 *
 * Runs DEFAULT_CASES conversations with seed DEFAULT_SEED (a few seconds). By hand:
 * FUZZ_SECONDS=<n> runs for that long, FUZZ_SEED=<n> picks another seed, FUZZ_CASE=<i>
 * replays one conversation and prints what happened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { PacketType, PacketTypeName } from '../../src/protocol/constants.ts';
import { deadlineHeapFor } from '../../src/broker/keepalive.ts';
import type { StoredMessage } from '../../src/broker/messages/stored-message.ts';
import { mqttConnect } from '../helpers/broker.ts';
import type { TestBroker } from '../helpers/broker.ts';
import { toHex } from '../helpers/packet-bytes.ts';
import { buildSeedCorpus } from './corpus.ts';
import { describeConversation, indexCorpus, makeConversation } from './broker-cases.ts';
import type { BrokerProfile, Conversation, CorpusIndex } from './broker-cases.ts';
import {
  decodeBrokerOutput,
  judge,
  loadGc,
  mirror,
  profileMaxPacketSize,
  runConversation,
  startFuzzBroker,
} from './broker-oracle.ts';
import type { Outcome } from './broker-oracle.ts';

const DEFAULT_SEED = 20_240_601;
const DEFAULT_CASES = 900;
const WARMUP_CASES = 150;
const CONCURRENCY = 24;
/** How long a broker may take to answer or close; only ever waited for in full on a bug. */
const DEADLINE_MS = 10_000;
const ADVANCE_EVERY = 250;
/** Heap + ArrayBuffer growth allowed between the warm-up and the end (both drained). */
const MEMORY_GROWTH_LIMIT = 24 * 1024 * 1024;
/** Failing conversations whose received bytes are kept for the report. */
const MAX_KEPT_FAILURES = 100;
/** Failures of one kind shown in full. */
const SAMPLES_PER_KIND = 2;

function envInt(name: string): number | null {
  const text = process.env[name];
  if (text === undefined || text === '') return null;
  const value = Number(text);
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got ${text}`);
  return value;
}

/** What the broker's log said so far (the lines themselves are dropped as they are read). */
interface LogTally {
  opened: number;
  closes: number;
  /** Client ports of "New connection" lines. */
  readonly ports: Set<number>;
  /** "New connection" lines in another form (at most a few). */
  readonly odd: string[];
}

interface FuzzBroker {
  readonly profile: BrokerProfile;
  readonly test: TestBroker;
  /** Topics the run retained a message on (to delete them before measuring memory). */
  readonly retainedTopics: Set<string>;
  readonly log: LogTally;
}

/**
 * Tallies the log lines written since the last call and drops them: with debug lines on,
 * a long run would otherwise keep gigabytes of them.
 */
function readLog(b: FuzzBroker): void {
  const lines = b.test.log.lines;
  const tally = b.log;
  for (const { message } of lines) {
    const match = NEW_CONNECTION_LINE.exec(message);
    if (match !== null) {
      tally.opened++;
      tally.ports.add(Number(match[1]));
    } else if (CLOSE_LINE.test(message) || TAKEOVER_LINE.test(message)) {
      tally.closes++;
    } else if (message.startsWith('New connection') && tally.odd.length < 3) {
      tally.odd.push(message);
    }
  }
  lines.length = 0;
}

async function startBrokers(): Promise<Record<BrokerProfile, FuzzBroker>> {
  const make = async (profile: BrokerProfile): Promise<FuzzBroker> => {
    const test = await startFuzzBroker(profile);
    const retainedTopics = new Set<string>();
    const store = test.broker.retained;
    const set = store.set.bind(store);
    store.set = (topic: string, message: StoredMessage | null): void => {
      retainedTopics.add(topic);
      set(topic, message);
    };
    return {
      profile,
      test,
      retainedTopics,
      log: { opened: 0, closes: 0, ports: new Set(), odd: [] },
    };
  };
  return { default: await make('default'), limited: await make('limited') };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** Close lines (close-reason.ts), and the line a takeover logs instead of one. */
const CLOSE_LINE =
  /^Client .+ (?:disconnected|closed its connection|has exceeded timeout|been disconnected)|^Bad socket read\/write on client /;
const TAKEOVER_LINE = /^Client .+ already connected, closing old connection\.$/;
const NEW_CONNECTION_LINE = /^New connection from 127\.0\.0\.1:(\d+) on port \d+\.$/;

interface Failure {
  readonly conversation: Conversation;
  readonly problems: readonly string[];
  readonly outcome: Outcome | null;
}

/** What the log check needs of a finished conversation (kept small: thousands are kept). */
interface Finished {
  readonly index: number;
  readonly profile: BrokerProfile;
  readonly ending: Conversation['ending'];
  readonly localPort: number;
}

interface PhaseResult {
  readonly failures: Failure[];
  readonly finished: Finished[];
  readonly kinds: Map<string, number>;
  /** 'probe answered', 'broker closed', ... : how conversations ended. */
  readonly endings: Map<string, number>;
  bytesSent: number;
  bytesReceived: number;
  slowest: { index: number; ms: number };
}

function bump(counts: Map<string, number>, key: string, n = 1): void {
  counts.set(key, (counts.get(key) ?? 0) + n);
}

function endingOf(outcome: Outcome): string {
  if (outcome.probe === 'answered') return 'probe answered';
  if (outcome.brokerClosedFirst) return 'broker closed';
  return 'client closed';
}

/** Conversations under way: the suspects when the process sees an uncaught error. */
const inFlight = new Set<number>();

/** Runs conversations [from, to) (or until `stopAt`), CONCURRENCY at a time. */
async function runPhase(
  brokers: Record<BrokerProfile, FuzzBroker>,
  corpus: CorpusIndex,
  seed: number,
  from: number,
  to: number,
  stopAt: number,
): Promise<PhaseResult & { next: number }> {
  const result: PhaseResult = {
    failures: [],
    finished: [],
    kinds: new Map(),
    endings: new Map(),
    bytesSent: 0,
    bytesReceived: 0,
    slowest: { index: -1, ms: 0 },
  };
  let next = from;
  let sinceAdvance = 0;
  const worker = async (): Promise<void> => {
    while (next < to && Date.now() < stopAt) {
      const index = next++;
      inFlight.add(index);
      const conversation = makeConversation(corpus, seed, index);
      bump(result.kinds, conversation.kind);
      result.bytesSent += conversation.bytes.length;
      const broker = brokers[conversation.profile];
      const expected = mirror(conversation.bytes, profileMaxPacketSize(conversation.profile));
      let outcome: Outcome | null = null;
      let problems: string[];
      try {
        outcome = await runConversation(broker.test.port, conversation, expected, DEADLINE_MS);
        problems = judge(conversation, expected, outcome, DEADLINE_MS);
        const { profile, ending } = conversation;
        result.finished.push({ index, profile, ending, localPort: outcome.localPort });
        bump(result.endings, endingOf(outcome));
        result.bytesReceived += outcome.received.length;
        if (outcome.elapsedMs > result.slowest.ms)
          result.slowest = { index, ms: outcome.elapsedMs };
      } catch (error) {
        problems = [
          `conversation failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        ];
      }
      if (problems.length > 0) {
        // Kept whole up to a point: a broken broker fails thousands of conversations.
        result.failures.push({
          conversation,
          problems,
          outcome: result.failures.length < MAX_KEPT_FAILURES ? outcome : null,
        });
      }
      inFlight.delete(index);
      if (++sinceAdvance >= ADVANCE_EVERY) {
        sinceAdvance = 0;
        // Keepalives and durable sessions run out in the middle of conversations.
        for (const b of Object.values(brokers)) {
          b.test.clock.advance(61_000);
          readLog(b);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { ...result, next };
}

/**
 * Lets every connection end, moves broker time past every expiry, deletes the retained
 * messages, checks that nothing is left and that every connection was logged. Returns
 * problems found.
 */
async function drain(
  brokers: Record<BrokerProfile, FuzzBroker>,
  finished: readonly Finished[],
): Promise<string[]> {
  const problems: string[] = [];
  for (const { profile, test, retainedTopics } of Object.values(brokers)) {
    const broker = test.broker;
    if (!(await until(() => broker.connections.size === 0, DEADLINE_MS))) {
      problems.push(
        `${profile}: ${broker.connections.size} connections still open after every client left`,
      );
    }
    // Two hours: every session (capped at 60 s by persistent_client_expiration) and every
    // connection deadline is due.
    test.clock.advance(2 * 3600 * 1000);
    // A will delay can be 2^32-1 s, and with Session Expiry 0 nothing cuts it short (as in
    // Mosquitto 2.0, context.c): legitimate state, sent now as a shutdown would.
    broker.delayedWills.publishAll();
    const left: [string, number][] = [
      ['connections', broker.connections.size],
      ['armed deadlines', deadlineHeapFor(test.clock).size],
      ['sessions', broker.sessions.size],
      ['subscriptions', broker.subscriptions.subscriptionCount],
    ];
    for (const [what, count] of left) {
      if (count !== 0) problems.push(`${profile}: ${count} ${what} left after expiry`);
    }
    for (const topic of retainedTopics) broker.retained.delete(topic);
    retainedTopics.clear();
    if (broker.retained.size !== 0) {
      problems.push(`${profile}: ${broker.retained.size} retained messages on topics never set`);
    }

    // Every connection announced, every close logged (a takeover logs its own line).
    const b = brokers[profile];
    readLog(b);
    const { opened, closes, ports, odd } = b.log;
    if (closes !== opened) {
      problems.push(`${profile}: ${opened} connections logged but ${closes} close lines`);
    }
    for (const f of finished) {
      if (f.profile !== profile || f.ending === 'reset') continue;
      if (!ports.has(f.localPort)) {
        problems.push(`${profile}: no "New connection" line for case ${f.index}`);
      }
    }
    if (odd.length > 0) problems.push(`${profile}: odd lines: ${odd.join(' | ')}`);
    Object.assign(b.log, { opened: 0, closes: 0 });
    ports.clear();
    odd.length = 0;
  }
  return problems;
}

function memoryInUse(gc: (() => void) | null): number {
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  return gc === null ? usage.rss : usage.heapUsed + usage.arrayBuffers;
}

/** "3 problems of this kind" grouping: the message without numbers and hex. */
function problemKind(problem: string): string {
  return problem.replace(/\b[0-9a-f]{2}(?: [0-9a-f]{2})+\b/g, '<hex>').replace(/\d+/g, 'N');
}

function report(failures: readonly Failure[]): string {
  const byKind = new Map<string, Failure[]>();
  for (const failure of failures) {
    for (const problem of failure.problems) {
      const kind = problemKind(problem);
      const list = byKind.get(kind) ?? [];
      if (!list.includes(failure)) list.push(failure);
      byKind.set(kind, list);
    }
  }
  const parts: string[] = [];
  for (const [kind, list] of byKind) {
    parts.push(`== ${list.length} conversation(s): ${kind}`);
    for (const failure of list.slice(0, SAMPLES_PER_KIND)) {
      parts.push(describeConversation(failure.conversation));
      for (const problem of failure.problems) parts.push(`  problem: ${problem}`);
      if (failure.outcome !== null) {
        parts.push(
          `  received (${failure.outcome.received.length} bytes): ${toHex(failure.outcome.received.subarray(0, 256))}`,
        );
      }
    }
  }
  return parts.join('\n');
}

function describeOutcome(conversation: Conversation, outcome: Outcome): string {
  const expected = mirror(conversation.bytes, profileMaxPacketSize(conversation.profile));
  const { packets } = decodeBrokerOutput(outcome.received, expected.outputVersion);
  const summary = packets.map(({ packet }) => {
    const name = PacketTypeName[packet.type];
    return packet.type === PacketType.Connack || packet.type === PacketType.Disconnect
      ? `${name} 0x${packet.reasonCode.toString(16)}`
      : name;
  });
  return [
    describeConversation(conversation),
    `  mirror: connect ${expected.connect === null ? 'none' : `v${expected.connect.protocolVersion}`}, ` +
      `${expected.packets.length} packets, error ${expected.error?.message ?? 'none'}, partial ${expected.partial}`,
    `  outcome: broker closed first ${outcome.brokerClosedFirst}, probe ${outcome.probe}, ` +
      `${outcome.elapsedMs} ms, received ${summary.join(', ') || 'nothing'}`,
  ].join('\n');
}

test('the broker survives hostile conversations over TCP (seeded fuzzer)', async (t) => {
  const seed = envInt('FUZZ_SEED') ?? DEFAULT_SEED;
  const seconds = envInt('FUZZ_SECONDS');
  const onlyCase = envInt('FUZZ_CASE');
  const replay = `FUZZ_SEED=${seed}`;

  const crashes: string[] = [];
  const onCrash = (what: string, error: unknown): void => {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    const suspects = [...inFlight].sort((a, b) => a - b).join(', ');
    const line = `${what} during ${replay} (conversations under way: ${suspects}): ${text}`;
    crashes.push(line);
    // node:test fails the test at once on an uncaught exception: say how to replay it.
    console.error(line);
  };
  const onException = (error: unknown): void => {
    onCrash('uncaught exception', error);
  };
  const onRejection = (reason: unknown): void => {
    onCrash('unhandled rejection', reason);
  };
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);

  const corpus = indexCorpus(buildSeedCorpus(seed));
  const brokers = await startBrokers();
  try {
    if (onlyCase !== null) {
      const conversation = makeConversation(corpus, seed, onlyCase);
      const expected = mirror(conversation.bytes, profileMaxPacketSize(conversation.profile));
      const outcome = await runConversation(
        brokers[conversation.profile].test.port,
        conversation,
        expected,
        DEADLINE_MS,
      );
      for (const line of describeOutcome(conversation, outcome).split('\n')) t.diagnostic(line);
      for (const line of brokers[conversation.profile].test.log.messages())
        t.diagnostic(`log: ${line}`);
      assert.deepEqual(judge(conversation, expected, outcome, DEADLINE_MS), []);
      assert.deepEqual(crashes, []);
      return;
    }

    const gc = loadGc();
    const stopAt = seconds === null ? Infinity : Date.now() + seconds * 1000;
    const total = seconds === null ? DEFAULT_CASES : Number.MAX_SAFE_INTEGER;
    const started = Date.now();

    const warm = await runPhase(brokers, corpus, seed, 0, WARMUP_CASES, Infinity);
    const drainProblems = await drain(brokers, warm.finished);
    const baseline = memoryInUse(gc);

    const stalls = monitorEventLoopDelay({ resolution: 10 });
    stalls.enable();
    const main = await runPhase(brokers, corpus, seed, warm.next, total, stopAt);
    stalls.disable();
    drainProblems.push(...(await drain(brokers, main.finished)));
    // The run's own records are not the broker's memory.
    const cases = main.next;
    main.finished.length = 0;
    warm.finished.length = 0;
    const growth = memoryInUse(gc) - baseline;

    // A well-behaved client is still served, by both brokers, in both protocol families.
    for (const { test: b } of Object.values(brokers)) {
      for (const protocolVersion of [4, 5] as const) {
        const client = await mqttConnect(b.url, {
          protocolVersion,
          clientId: `fz-final-${protocolVersion}`,
        });
        try {
          await client.client.subscribeAsync('fz/final', { qos: 1 });
          await client.client.publishAsync('fz/final', 'still here', { qos: 1 });
          const [message] = await client.waitForMessages(1, DEADLINE_MS);
          assert.equal(message?.payload, 'still here');
        } finally {
          await client.end();
        }
      }
    }

    const failures = [...warm.failures, ...main.failures];
    const kinds = new Map(warm.kinds);
    for (const [kind, n] of main.kinds) kinds.set(kind, (kinds.get(kind) ?? 0) + n);
    const hostileKinds = [...kinds.keys()].filter((k) => k.startsWith('hostile:')).length;
    const endings = new Map(warm.endings);
    for (const [ending, n] of main.endings) bump(endings, ending, n);
    const slowest = main.slowest.ms > warm.slowest.ms ? main.slowest : warm.slowest;
    const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    t.diagnostic(
      `seed ${seed}: ${cases} conversations in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
        `(session ${kinds.get('session') ?? 0}, connect ${kinds.get('connect') ?? 0}, ` +
        `${hostileKinds} hostile kinds); ${[...endings].map(([e, n]) => `${e} ${n}`).join(', ')}; ` +
        `sent ${mib(warm.bytesSent + main.bytesSent)}, received ${mib(warm.bytesReceived + main.bytesReceived)}; ` +
        `slowest case ${slowest.index} (${slowest.ms} ms), longest event-loop stall ${Math.round(stalls.max / 1e6)} ms; ` +
        `memory growth ${gc === null ? 'rss ' : ''}${mib(growth)}; ${failures.length} failing conversations`,
    );
    assert.deepEqual(crashes, [], `${replay}: the process saw errors`);
    assert.equal(
      failures.length,
      0,
      `${replay}: ${failures.length} conversations failed\n${report(failures)}`,
    );
    assert.deepEqual(drainProblems, [], `${replay}: the broker kept state`);
    assert.ok(
      growth < MEMORY_GROWTH_LIMIT,
      `${replay}: memory grew by ${growth} bytes over ${cases} conversations`,
    );
  } finally {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
    await Promise.all(Object.values(brokers).map((b) => b.test.close()));
  }
});
