/**
 * Differential conversations: the same byte-level conversations played against Debian's
 * real Mosquitto and against our broker (bin/mosquitto as a process) in the same run.
 *
 * 1. Each conversation is first played against the real broker and checked against the
 *    answers written in its table (test/helpers/conversation-tables/), so the table itself
 *    is verified on every run.
 * 2. Then it is played against ours, which must give exactly the real broker's answers
 *    (packets byte for byte, and closes at the same points), except where the allow-list
 *    below documents that Debian's 2.0.11 differs from our 2.0.22 target: there ours must
 *    give the table's 2.0.22 answer.
 *
 * Only two things are normalised: the random Assigned Client Identifier (conversation.ts,
 * normalisePacket) and the allow-listed version differences. Nothing else.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect, isDeepStrictEqual } from 'node:util';
import { expectedTranscript, runConversation, type Conversation } from '../helpers/conversation.ts';
import { connectConversations } from '../helpers/conversation-tables/connect.ts';
import { limitsConversations } from '../helpers/conversation-tables/limits.ts';
import { publishConversations } from '../helpers/conversation-tables/publish.ts';
import { sessionConversations } from '../helpers/conversation-tables/session.ts';
import { subscribeConversations } from '../helpers/conversation-tables/subscribe.ts';
import {
  compareVersions,
  mosquittoPath,
  mosquittoSkip,
  mosquittoVersion,
  realMosquitto,
} from '../helpers/mosquitto.ts';
import { ourBroker, type BrokerTarget, type RunningBroker } from '../helpers/process.ts';

// ---------------------------------------------------------------------------------------------
// The allow-list: every way Debian's Mosquitto 2.0.11 is allowed to answer differently from
// the 2.0.22 behaviour we build (features §3.17). A conversation names one of these ids in
// `mosquitto2011` together with the exact transcript 2.0.11 gives; the difference is only
// accepted from a reference older than `fixedIn`, and only if its answer is exactly that.

interface KnownDifference {
  /** The first Mosquitto version with the 2.0.22 behaviour. */
  readonly fixedIn: string;
  /** Why the answers differ, and where that is documented. */
  readonly reason: string;
}

const KNOWN_DIFFERENCES: Readonly<Record<string, KnownDifference>> = {
  // features §3.17 "Strict protocol checks (DUP=1 on QoS 0, reserved header flags, wrong
  // fixed lengths of PINGREQ/PUBACK/…, server-only packets sent by a client, payload format
  // indicator other than 0/1)": 2.0.11 accepts these packets (or, for CONNACK/AUTH from a
  // v5 client, closes without the DISCONNECT 0x82 that 2.0.12's read_handle.c now sends for
  // every protocol error).
  'strict-protocol-checks': {
    fixedIn: '2.0.12',
    reason: '§3.17 strict protocol checks: 2.0.11 accepts, 2.0.12+ closes (v5: with a reason)',
  },
  // Same 2.0.12 change, not listed in §3.17 (reported to the lead): an invalid PUBLISH topic
  // (a wildcard, or an empty topic without a topic alias) was MOSQ_ERR_PROTOCOL (DISCONNECT
  // 0x82) in 2.0.11 and is MALFORMED_PACKET (0x81) since (handle_publish.c; the 2.0.12+
  // test/broker/data/PUBLISH.json expects E0 01 81 for both).
  'invalid-publish-topic-reason': {
    fixedIn: '2.0.12',
    reason: 'invalid PUBLISH topic (wildcard, empty): 2.0.11 DISCONNECT 0x82, 2.0.12+ 0x81',
  },
  // features §3.17 "max_keepalive vs v3 clients": 2.0.11 does not apply max_keepalive to
  // 3.1/3.1.1 (keepalive 0 accepted). The same 2.0.12 change moved the keepalive check
  // before the other CONNACK properties, so for v5 Server Keep Alive now comes first
  // (2.0.11: after Topic Alias Maximum); §3.3 gives the 2.0.22 order.
  'max-keepalive-v3': {
    fixedIn: '2.0.12',
    reason: '§3.17 max_keepalive vs v3 clients (and the CONNACK property order it moved)',
  },
  // features §3.17 "Retained messages on a shared subscription": delivered in 2.0.11.
  'retained-on-shared-subscription': {
    fixedIn: '2.0.13',
    reason: '§3.17 retained messages on a shared subscription: 2.0.11 delivers them',
  },
  // features §3.17 "v5 session takeover": 2.0.11 just closes the old socket.
  'takeover-disconnect-0x8e': {
    fixedIn: '2.0.15',
    reason: '§3.17 v5 session takeover: 2.0.11 closes without DISCONNECT 0x8E',
  },
  // features §3.17 "Will to $CONTROL/": allowed in 2.0.11.
  'will-to-control-topic': {
    fixedIn: '2.0.16',
    reason: '§3.17 will to $CONTROL/: 2.0.11 accepts the CONNECT',
  },
  // features §3.17 "Shared-sub validation, no-local on shared": lax in 2.0.11 ($share/g,
  // $share/g/ and No Local on $share/ all get SUBACK 0x00).
  'shared-subscription-validation': {
    fixedIn: '2.0.20',
    reason: '§3.17 shared-subscription validation: 2.0.11 grants invalid $share filters',
  },
  // features §3.17 "response-topic validation": 2.0.11 accepts a wildcard Response Topic.
  'response-topic-validation': {
    fixedIn: '2.0.20',
    reason: '§3.17 response-topic validation: 2.0.11 accepts a wildcard Response Topic',
  },
};

// ---------------------------------------------------------------------------------------------

const conversations: readonly Conversation[] = [
  ...connectConversations,
  ...publishConversations,
  ...subscribeConversations,
  ...sessionConversations,
  ...limitsConversations,
];

const TEST_TIMEOUT_MS = 30_000;

/** One broker per distinct extra config, started on first use, for one target. */
class BrokerPool {
  private readonly brokers = new Map<string, Promise<RunningBroker>>();

  constructor(private readonly target: BrokerTarget) {}

  get(config: readonly string[] = []): Promise<RunningBroker> {
    const key = JSON.stringify(config);
    let broker = this.brokers.get(key);
    if (broker === undefined) {
      broker = this.target.start({ config });
      this.brokers.set(key, broker);
    }
    return broker;
  }

  async stopAll(): Promise<void> {
    const settled = await Promise.allSettled(this.brokers.values());
    await Promise.all(
      settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value.stop()] : [])),
    );
  }
}

/** The difference a conversation invokes, if it applies to the installed reference. */
function applicableDifference(
  conversation: Conversation,
  version: string,
): KnownDifference | undefined {
  const legacy = conversation.mosquitto2011;
  if (legacy === undefined) return undefined;
  const difference = KNOWN_DIFFERENCES[legacy.difference];
  if (difference === undefined) return undefined; // reported by the allow-list test below
  return compareVersions(version, difference.fixedIn) < 0 ? difference : undefined;
}

/** The real broker's transcripts of this run, for comparing ours with. */
const realTranscripts = new Map<Conversation, string[]>();
const haveMosquitto = mosquittoPath('mosquitto') !== null;
const realLabel = haveMosquitto ? realMosquitto.label : 'mosquitto (not installed)';

test('every allow-listed difference is documented and used', () => {
  const used = new Set(conversations.flatMap((c) => c.mosquitto2011?.difference ?? []));
  for (const id of used) {
    assert.ok(id in KNOWN_DIFFERENCES, `conversation names an unknown difference: ${id}`);
  }
  for (const id of Object.keys(KNOWN_DIFFERENCES)) {
    assert.ok(used.has(id), `allow-list entry ${id} is not used by any conversation`);
  }
  const names = conversations.map((c) => c.name);
  assert.equal(new Set(names).size, names.length, 'conversation names must be unique');
});

describe(`conversations: ${realLabel} answers as the table says`, mosquittoSkip(), () => {
  const pool = new BrokerPool(realMosquitto);
  after(() => pool.stopAll());

  for (const conversation of conversations) {
    test(conversation.name, { timeout: TEST_TIMEOUT_MS }, async () => {
      const version = mosquittoVersion();
      const transcript = await runConversation(await pool.get(conversation.config), conversation);
      realTranscripts.set(conversation, transcript);
      const difference = applicableDifference(conversation, version);
      if (difference !== undefined && conversation.mosquitto2011 !== undefined) {
        assert.deepStrictEqual(
          transcript,
          conversation.mosquitto2011.transcript,
          `mosquitto ${version} should answer with the allow-listed difference ` +
            `'${conversation.mosquitto2011.difference}' (${difference.reason}) [${conversation.ref}]`,
        );
      } else {
        assert.deepStrictEqual(
          transcript,
          expectedTranscript(conversation.steps),
          `mosquitto ${version} does not answer as the table says [${conversation.ref}]`,
        );
      }
    });
  }
});

/**
 * What ours must answer: the real broker's transcript from this run, with an allow-listed
 * 2.0.11 answer replaced by the table's 2.0.22 answer; the table alone without a reference.
 */
function referenceFor(conversation: Conversation): { transcript: string[]; source: string } {
  const expected = expectedTranscript(conversation.steps);
  const real = realTranscripts.get(conversation);
  if (real === undefined) return { transcript: expected, source: 'the table (no real broker)' };
  const version = mosquittoVersion();
  const legacy = conversation.mosquitto2011;
  if (
    legacy !== undefined &&
    applicableDifference(conversation, version) !== undefined &&
    isDeepStrictEqual(real, legacy.transcript)
  ) {
    return {
      transcript: expected,
      source: `the table's 2.0.22 answer (mosquitto ${version} differs: '${legacy.difference}')`,
    };
  }
  return { transcript: real, source: `mosquitto ${version}'s answer in this run` };
}

describe('conversations: ours answers as mosquitto does', () => {
  const pool = new BrokerPool(ourBroker);
  let startError: unknown = null;
  before(async () => {
    try {
      await pool.get();
    } catch (error) {
      startError = error;
    }
  });
  after(() => pool.stopAll());

  test('our broker starts (node bin/mosquitto -c <temporary config>)', () => {
    if (startError !== null) {
      const why = startError instanceof Error ? startError.message : inspect(startError);
      assert.fail(`our broker did not start, so no conversation can run against it:\n${why}`);
    }
  });

  for (const conversation of conversations) {
    test(conversation.name, { timeout: TEST_TIMEOUT_MS }, async () => {
      if (startError !== null) {
        assert.fail("our broker is not running (see 'our broker starts' above)");
      }
      const broker = await pool.get(conversation.config);
      const transcript = await runConversation(broker, conversation);
      const reference = referenceFor(conversation);
      assert.deepStrictEqual(
        transcript,
        reference.transcript,
        `ours differs from ${reference.source} [${conversation.ref}]`,
      );
    });
  }
});
