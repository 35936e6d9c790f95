/**
 * Byte-level conversations with a broker, written as tables and replayed against any
 * RunningBroker (ours or Debian's mosquitto) through RawClient.
 *
 * A conversation is a list of steps on named connections ('a', 'b', ...): send these bytes,
 * expect this packet next, expect the connection to close next, drop the connection. Running
 * it yields a transcript, one line per expectation, of what actually came:
 *
 *   a< 20 02 00 00        a packet (hex)
 *   a: closed             the connection ended (no further packet)
 *   a: timeout            nothing within the time limit
 *
 * The table's expectations give the same lines, so "the broker answered as the table says"
 * is one deepStrictEqual, and so is "our broker answered as mosquitto did".
 */
import { Buffer } from 'node:buffer';
import { hex, toHex } from './packet-bytes.ts';
import type { RunningBroker } from './process.ts';
import { RawClient, type RawEvent } from './raw-client.ts';

export type Step =
  | { readonly op: 'send'; readonly client: string; readonly bytes: Buffer }
  | { readonly op: 'expect'; readonly client: string; readonly packet: Buffer }
  | { readonly op: 'expectClose'; readonly client: string }
  | { readonly op: 'drop'; readonly client: string };

/** The answers of a reference version that differs from the 2.0.22 target, and why. */
export interface LegacyAnswers {
  /** The id of an entry in the test's allow-list of known version differences. */
  readonly difference: string;
  /** The whole transcript that version gives for this conversation. */
  readonly transcript: readonly string[];
}

export interface Conversation {
  /** What is being checked, as a sentence (the test name). */
  readonly name: string;
  /** Where the behaviour is specified: spec tags, features.md sections. */
  readonly ref: string;
  /** Extra broker config lines; conversations with the same lines share one broker. */
  readonly config?: readonly string[];
  readonly steps: readonly Step[];
  /** What Mosquitto 2.0.11 says instead, when it differs from 2.0.22 (see the allow-list). */
  readonly mosquitto2011?: LegacyAnswers;
}

// ---------------------------------------------------------------------------------------------
// Step builders (client defaults to 'a')

const bytesOf = (data: Buffer | string): Buffer => (typeof data === 'string' ? hex(data) : data);

export const send = (data: Buffer | string, client = 'a'): Step => ({
  op: 'send',
  client,
  bytes: bytesOf(data),
});

export const expect = (packet: Buffer | string, client = 'a'): Step => ({
  op: 'expect',
  client,
  packet: bytesOf(packet),
});

export const expectClose = (client = 'a'): Step => ({ op: 'expectClose', client });

/** Destroys our socket without any MQTT goodbye: a network loss, as far as the broker knows. */
export const drop = (client = 'a'): Step => ({ op: 'drop', client });

/** PINGREQ answered by PINGRESP: proves the connection is open and nothing else was queued. */
export const ping = (client = 'a'): Step[] => [send('c0 00', client), expect('d0 00', client)];

/** Text as the hex of its UTF-8 bytes, for writing strings inside expected packets. */
export const ascii = (text: string): string => toHex(Buffer.from(text, 'utf8'));

// ---------------------------------------------------------------------------------------------
// Transcripts

export function expectedTranscript(steps: readonly Step[]): string[] {
  const lines: string[] = [];
  for (const step of steps) {
    if (step.op === 'expect') lines.push(`${step.client}< ${toHex(step.packet)}`);
    else if (step.op === 'expectClose') lines.push(`${step.client}: closed`);
  }
  return lines;
}

/** The placeholder written over an assigned client id; the table's expectations use it. */
export const ASSIGNED_ID_PLACEHOLDER = 'auto-' + 'X'.repeat(36);

/** Mosquitto's generated id: auto_id_prefix 'auto-' + an upper-case UUID (features §3.2). */
const assignedIdPattern = /^auto-[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;

/**
 * Replaces a generated client id in a v5 CONNACK (Assigned Client Identifier, 0x12) with
 * ASSIGNED_ID_PLACEHOLDER, because it is random. Only an id of the documented shape is
 * replaced: any other id stays, so a wrong format shows in the diff. Every other byte is
 * compared as received.
 */
export function normalisePacket(packet: Buffer): Buffer {
  if (packet[0] !== 0x20 || packet.length < 5) return packet;
  const marker = packet.indexOf(Buffer.from([0x12, 0x00, 41]));
  if (marker < 0) return packet;
  const start = marker + 3;
  const id = packet.subarray(start, start + 41).toString('latin1');
  if (!assignedIdPattern.test(id)) return packet;
  const copy = Buffer.from(packet);
  copy.write(ASSIGNED_ID_PLACEHOLDER, start, 'latin1');
  return copy;
}

function observation(client: string, event: RawEvent): string {
  if (event.kind === 'packet') return `${client}< ${toHex(normalisePacket(event.bytes))}`;
  return `${client}: ${event.kind}`;
}

export interface RunOptions {
  /** Time allowed for each expected packet or close. */
  readonly eventTimeoutMs?: number;
}

/**
 * Plays the conversation against the broker and returns the transcript. After the first
 * timeout the rest is not played (each line reads 'not reached'): the transcript already
 * differs, and waiting for every later step would only make a broken broker slow to test.
 */
export async function runConversation(
  broker: RunningBroker,
  conversation: Conversation,
  options: RunOptions = {},
): Promise<string[]> {
  const timeoutMs = options.eventTimeoutMs ?? 2000;
  const clients = new Map<string, RawClient>();
  const lines: string[] = [];
  let stalled = false;
  const clientFor = async (name: string): Promise<RawClient> => {
    let client = clients.get(name);
    if (client === undefined) {
      client = await RawClient.open(broker.port, broker.host);
      clients.set(name, client);
    }
    return client;
  };
  try {
    for (const step of conversation.steps) {
      if (stalled) {
        if (step.op === 'expect' || step.op === 'expectClose') {
          lines.push(`${step.client}: not reached`);
        }
        continue;
      }
      switch (step.op) {
        case 'send':
          (await clientFor(step.client)).send(step.bytes);
          break;
        case 'drop':
          (await clientFor(step.client)).destroy();
          break;
        case 'expect':
        case 'expectClose': {
          const client = clients.get(step.client);
          if (client === undefined) {
            throw new Error(`step expects on '${step.client}' before anything was sent on it`);
          }
          const event = await client.next(timeoutMs);
          lines.push(observation(step.client, event));
          if (event.kind === 'timeout') stalled = true;
          break;
        }
      }
    }
  } finally {
    for (const client of clients.values()) client.destroy();
  }
  return lines;
}
