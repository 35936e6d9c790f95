/**
 * The conversation fuzzer's driver: a few sessions (MQTT 3.1.1 and 5, clean and
 * persistent) play seeded random conversations against one broker at once: connects,
 * takeovers, polite and abrupt disconnects, subscribes and unsubscribes, publishes at
 * QoS 0/1/2, DUP resends, reused QoS 1 packet ids, acknowledgements held back and sent
 * out of order. Each round ends in a quiescent drain (every persistent session resumes,
 * every flow completes), then conversation-oracle.ts checks the deliveries owed.
 *
 * Violations are collected, never thrown, so one report shows them all with the seed.
 */
import { Buffer } from 'node:buffer';
import { setImmediate as yieldTurn, setTimeout as delay } from 'node:timers/promises';
import { PacketType } from '../../src/protocol/constants.ts';
import type { ProtocolVersion } from '../../src/protocol/constants.ts';
import type { Packet } from '../../src/protocol/packets.ts';
import {
  connect,
  disconnect,
  pingreq,
  puback,
  pubcomp,
  publish,
  pubrec,
  pubrel,
  subscribe,
  unsubscribe,
} from '../helpers/packet-bytes.ts';
import { missingDeliveries, SessionEpoch } from './conversation-oracle.ts';
import type { SentMessage } from './conversation-oracle.ts';
import { LogicalClock, Peer, Prng } from './conversation-peer.ts';
import type { PeerHandlers } from './conversation-peer.ts';

const TOPICS = ['cf/a', 'cf/b', 'cf/c/d', 'cf/c/e'] as const;
const FILTERS = ['cf/a', 'cf/b', 'cf/+', 'cf/#', 'cf/c/+', 'cf/+/d', '#'] as const;
/** Below the broker's receive maximum (max_inflight_messages, 20) with room to spare. */
const MAX_OUTGOING = 10;
const SESSION_EXPIRY = 3600;
const MAX_FILTERS = 3;
const DRAIN_TIMEOUT_MS = 8000;
const QUIET_MS = 150;

interface Outgoing {
  readonly message: SentMessage | null;
  readonly bytes: Buffer;
  readonly qos: 1 | 2;
  /** QoS 2: PUBREC received, PUBREL owed (held back at random). */
  received: boolean;
  /** Sent again with DUP: it may be answered twice, so its id is not reused meanwhile. */
  resent: boolean;
  /**
   * QoS 2: the connection it was last resent on. One resend per connection at most: a third
   * copy on one connection before PUBREL is a protocol error (Mosquitto 2.0.16+,
   * CVE-2023-28366), which the broker rightly closes on.
   */
  resentOn: Connection | null;
}

type HeldAck = { readonly kind: 'puback' | 'pubrec' | 'pubcomp' | 'pubrel'; readonly id: number };

interface Connection {
  readonly peer: Peer;
  readonly epoch: SessionEpoch;
  readonly cleanStart: boolean;
  ready: boolean;
  /**
   * It took over a connection whose CONNACK had not come: the broker may or may not have
   * made that one's session already, so session present can be either.
   */
  readonly presentUnknown: boolean;
  /** We ended it (DISCONNECT, drop or takeover): a close is no surprise. */
  closing: boolean;
  /** Acks owed to the broker, sent later in random order. */
  readonly held: HeldAck[];
  /** Subscriber side: packet id -> message key of a QoS 2 PUBLISH awaiting PUBREL. */
  readonly inboundQos2: Map<number, string>;
  readonly pendingRequests: Map<
    number,
    { kind: 'sub' | 'unsub'; filter: string; qos: number; cancelled: boolean }
  >;
}

class SessionActor {
  epoch: SessionEpoch;
  conn: Connection | null = null;
  connecting = false;
  /** Publisher side flows by packet id (a QoS 1 id may carry several, answered in order). */
  readonly outgoing = new Map<number, Outgoing[]>();
  private nextId = 1;

  constructor(
    readonly clientId: string,
    readonly version: 4 | 5,
    readonly persistent: boolean,
    epochId: number,
  ) {
    this.epoch = new SessionEpoch(clientId, epochId, persistent);
  }

  outgoingCount(): number {
    let n = 0;
    for (const list of this.outgoing.values()) n += list.length;
    return n;
  }

  allocateId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextId;
      this.nextId = (this.nextId % 65535) + 1;
      if (!this.outgoing.has(id) && !(this.conn?.pendingRequests.has(id) ?? false)) return id;
    }
    throw new Error(`${this.clientId}: no free packet id`);
  }
}

export interface DriverOptions {
  readonly port: number;
  readonly seed: number;
  readonly sessions: number;
  readonly stepsPerRound: number;
}

export class ConversationDriver implements PeerHandlers {
  readonly violations: string[] = [];
  readonly stats = {
    connects: 0,
    publishes: 0,
    acked: 0,
    delivered: 0,
    takeovers: 0,
    drops: 0,
    owed: 0,
  };
  private readonly rng: Prng;
  private readonly clock = new LogicalClock();
  private readonly actors: SessionActor[] = [];
  private readonly byPeer = new Map<Peer, SessionActor>();
  private readonly epochs: SessionEpoch[] = [];
  private messages: SentMessage[] = [];
  private epochCounter = 0;
  private messageCounter = 0;
  private draining = false;
  private lastPacketAt = Date.now();
  private round = 0;

  constructor(private readonly options: DriverOptions) {
    this.rng = new Prng(options.seed);
    for (let i = 0; i < options.sessions; i++) {
      const version = this.rng.chance(0.5) ? 5 : 4;
      // Most sessions persist: those are the ones resumption must redeliver to.
      const actor = new SessionActor(
        `cf${options.seed}-${i}`,
        version,
        this.rng.chance(0.7),
        ++this.epochCounter,
      );
      this.actors.push(actor);
      this.epochs.push(actor.epoch);
    }
  }

  /** One round: random steps, then the drain and the delivery check. */
  async playRound(): Promise<void> {
    this.round++;
    for (let step = 0; step < this.options.stepsPerRound; step++) {
      this.step(this.rng.pick(this.actors));
      // Let the broker and the sockets move; sometimes a little longer so flows overlap.
      if (this.rng.chance(0.1)) await delay(1);
      else await yieldTurn();
    }
    await this.drain();
    const { missing, owed } = missingDeliveries(this.messages, this.epochs);
    this.stats.owed += owed;
    this.violations.push(...missing);
    if (missing.length > 0) {
      for (const actor of this.actors) {
        this.violations.push(
          `${actor.clientId} v${actor.version}: epoch ${actor.epoch.id} connected ${actor.conn?.ready ?? false}, ` +
            `held acks ${actor.conn?.held.length ?? 0}`,
        );
      }
    }
    // Checked messages are forgotten, so memory and queues stay bounded in long runs.
    this.messages = [];
    for (const epoch of this.epochs) {
      epoch.delivered.clear();
      epoch.qos2.clear();
    }
    for (let i = this.epochs.length - 1; i >= 0; i--) {
      if (!(this.epochs[i] as SessionEpoch).alive) this.epochs.splice(i, 1);
    }
  }

  /** Closes every connection (politely) at the end of a run. */
  async closeAll(): Promise<void> {
    for (const actor of this.actors) {
      const conn = actor.conn;
      if (conn === null) continue;
      conn.closing = true;
      conn.peer.send(disconnect());
      conn.peer.end();
    }
    await delay(50);
    for (const actor of this.actors) actor.conn?.peer.drop();
  }

  // ---------------------------------------------------------------------------------------
  // Steps

  private step(actor: SessionActor): void {
    const conn = actor.conn;
    if (conn === null || !conn.ready) {
      if (!actor.connecting && (conn === null || this.rng.chance(0.05))) this.connect(actor);
      return;
    }
    const roll = this.rng.next();
    if (roll < 0.03)
      this.connect(actor); // takeover of our own live connection
    else if (roll < 0.05) this.politeDisconnect(actor, conn);
    else if (roll < 0.07) this.dropConnection(conn);
    else if (roll < 0.17) this.subscribe(actor, conn);
    else if (roll < 0.21) this.unsubscribe(actor, conn);
    else if (roll < 0.6) this.publish(actor, conn);
    else if (roll < 0.66) this.resendDup(actor, conn);
    else if (roll < 0.9) this.flushHeld(conn, this.rng.chance(0.5));
    else if (roll < 0.93) conn.peer.send(pingreq());
    // else: idle
  }

  private connect(actor: SessionActor): void {
    const old = actor.conn;
    if (old !== null) {
      old.closing = true;
      this.stats.takeovers++;
    }
    // Persistent sessions resume; now and then one starts clean (its old life ends).
    const cleanStart = !actor.persistent || (!this.draining && this.rng.chance(0.05));
    actor.connecting = true;
    this.stats.connects++;
    void Peer.open(
      actor.clientId,
      this.options.port,
      this.clock,
      this,
      actor.version as ProtocolVersion,
    ).then(
      (peer) => {
        actor.connecting = false;
        // An MQTT 3.1.1 clean session lasts only as long as its connection: a takeover
        // of one never resumes it (Mosquitto: session expiry 0), so a new epoch begins.
        if (cleanStart || !actor.epoch.alive || !actor.epoch.persistent) {
          this.newEpoch(
            actor,
            this.clock.now(),
            actor.persistent && !(cleanStart && actor.version === 4),
          );
        }
        const conn: Connection = {
          peer,
          epoch: actor.epoch,
          cleanStart,
          ready: false,
          presentUnknown: actor.conn !== null && !actor.conn.ready,
          closing: false,
          held: [],
          inboundQos2: new Map(),
          pendingRequests: new Map(),
        };
        if (actor.conn !== null) actor.conn.closing = true;
        actor.conn = conn;
        this.byPeer.set(peer, actor);
        const properties =
          actor.version === 5 && actor.persistent ? [{ id: 0x11, value: SESSION_EXPIRY }] : [];
        trace(
          actor,
          `connect clean=${cleanStart} epoch=${actor.epoch.id} established=${actor.epoch.established}`,
        );
        peer.send(
          connect({
            version: actor.version,
            clientId: actor.clientId,
            cleanStart,
            keepAlive: 0,
            properties,
          }),
        );
      },
      (error: unknown) => {
        actor.connecting = false;
        this.violations.push(`${actor.clientId}: ${(error as Error).message}`);
      },
    );
  }

  private newEpoch(actor: SessionActor, at: number, persistent: boolean): void {
    actor.epoch.end(at);
    actor.epoch = new SessionEpoch(actor.clientId, ++this.epochCounter, persistent);
    this.epochs.push(actor.epoch);
    // A new session: the broker forgot our unfinished flows, and so do we.
    actor.outgoing.clear();
  }

  private politeDisconnect(actor: SessionActor, conn: Connection): void {
    conn.closing = true;
    conn.peer.send(disconnect());
    conn.peer.end();
    if (!conn.epoch.persistent) conn.epoch.end(this.clock.now());
  }

  private dropConnection(conn: Connection): void {
    conn.closing = true;
    this.stats.drops++;
    conn.peer.drop();
  }

  private subscribe(actor: SessionActor, conn: Connection): void {
    const active = conn.epoch.activeFilters();
    // At most MAX_FILTERS at once (resubscribing one of them is fine): copies per message
    // stay few, so the queues of sessions that hold their acks back stay small.
    const filter = active.length >= MAX_FILTERS ? this.rng.pick(active) : this.rng.pick(FILTERS);
    const qos = this.rng.int(3);
    const id = actor.allocateId();
    conn.pendingRequests.set(id, { kind: 'sub', filter, qos, cancelled: false });
    conn.epoch.requested.add(filter);
    const at = conn.peer.send(
      subscribe({
        packetId: id,
        version: actor.version,
        subscriptions: [{ filter, options: qos }],
      }),
    );
    // The broker replaces a subscription of this filter (perhaps with a lower QoS) when it
    // reads the SUBSCRIBE, not when we read the SUBACK, which may never come: the old one
    // counts only until this send, the new one from its SUBACK.
    conn.epoch.close(filter, at);
  }

  private unsubscribe(actor: SessionActor, conn: Connection): void {
    const active = conn.epoch.activeFilters();
    if (active.length === 0) return;
    const filter = this.rng.pick(active);
    const id = actor.allocateId();
    conn.pendingRequests.set(id, { kind: 'unsub', filter, qos: 0, cancelled: false });
    // A SUBSCRIBE of this filter still unanswered is undone by this UNSUBSCRIBE (the broker
    // handles them in order), so its SUBACK must not open a subscription span.
    for (const request of conn.pendingRequests.values()) {
      if (request.kind === 'sub' && request.filter === filter) request.cancelled = true;
    }
    const at = conn.peer.send(
      unsubscribe({ packetId: id, version: actor.version, filters: [filter] }),
    );
    conn.epoch.close(filter, at);
  }

  private publish(actor: SessionActor, conn: Connection): void {
    const qos = this.rng.int(3) as 0 | 1 | 2;
    const topic = this.rng.pick(TOPICS);
    const key = `m${this.options.seed}.${this.round}.${++this.messageCounter}`;
    this.stats.publishes++;
    if (qos === 0) {
      conn.peer.send(publish({ topic, payload: key, qos: 0, version: actor.version }));
      return;
    }
    if (actor.outgoingCount() >= MAX_OUTGOING) return;
    // Now and then a QoS 1 publish reuses the id of one still unanswered (legal for the
    // broker to accept: each gets its own PUBACK, in order).
    let id = actor.allocateId();
    if (qos === 1 && this.rng.chance(0.1)) {
      for (const [usedId, list] of actor.outgoing) {
        if (list.every((o) => o.qos === 1 && !o.resent)) {
          id = usedId;
          break;
        }
      }
    }
    const bytes = publish({ topic, payload: key, qos, packetId: id, version: actor.version });
    const sentAt = conn.peer.send(bytes);
    const message: SentMessage = {
      key,
      topic,
      qos,
      publisher: actor.clientId,
      sentAt,
      ackedAt: -1,
    };
    this.messages.push(message);
    const list = actor.outgoing.get(id) ?? [];
    list.push({ message, bytes, qos, received: false, resent: false, resentOn: null });
    actor.outgoing.set(id, list);
  }

  private resendDup(actor: SessionActor, conn: Connection): void {
    for (const list of actor.outgoing.values()) {
      const first = list[0];
      if (first !== undefined && !first.received && list.length === 1) {
        if (first.qos === 2 && first.resentOn === conn) continue;
        first.resent = true;
        first.resentOn = conn;
        conn.peer.send(withDup(first.bytes));
        return;
      }
    }
  }

  private flushHeld(conn: Connection, all: boolean): void {
    const held = conn.held;
    // Out of order: a random permutation of what is owed (or a random part of it).
    for (let i = held.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [held[i], held[j]] = [held[j] as HeldAck, held[i] as HeldAck];
    }
    const count = all ? held.length : this.rng.int(held.length + 1);
    for (const ack of held.splice(0, count)) this.sendAck(conn, ack);
  }

  private sendAck(conn: Connection, ack: HeldAck): void {
    const bytes =
      ack.kind === 'puback'
        ? puback(ack.id)
        : ack.kind === 'pubrec'
          ? pubrec(ack.id)
          : ack.kind === 'pubrel'
            ? pubrel(ack.id)
            : pubcomp(ack.id);
    conn.peer.send(bytes);
  }

  // ---------------------------------------------------------------------------------------
  // What the broker sends

  packet(peer: Peer, packet: Packet, at: number): void {
    this.lastPacketAt = Date.now();
    const actor = this.byPeer.get(peer);
    const conn = actor?.conn;
    if (actor === undefined || conn === undefined || conn === null || conn.peer !== peer) {
      // A superseded connection: what it still gets is owed again on the new one.
      if (actor !== undefined && packet.type === PacketType.Publish) {
        trace(
          actor,
          `@${at} (old connection) PUBLISH ${packet.payload.toString()} q${packet.qos} id ${packet.packetId}`,
        );
      }
      return;
    }
    if (packet.type !== PacketType.Publish)
      trace(
        actor,
        `@${at} packet type ${packet.type} id ${'packetId' in packet ? packet.packetId : ''}`,
      );
    else
      trace(
        actor,
        `@${at} PUBLISH ${packet.payload.toString()} q${packet.qos} id ${packet.packetId} dup ${packet.dup}`,
      );
    switch (packet.type) {
      case PacketType.Connack: {
        if (packet.reasonCode !== 0) {
          this.violations.push(
            `${actor.clientId}: CONNACK refused with 0x${packet.reasonCode.toString(16)}`,
          );
          return;
        }
        const expectPresent = !conn.cleanStart && conn.epoch.established;
        trace(
          actor,
          `@${at} CONNACK session present ${packet.sessionPresent}, expected ${expectPresent}`,
        );
        if (packet.sessionPresent !== expectPresent && !conn.presentUnknown) {
          this.violations.push(
            `${actor.clientId}: CONNACK session present ${packet.sessionPresent}, expected ${expectPresent} (round ${this.round})`,
          );
        }
        conn.epoch.established = true;
        conn.ready = true;
        this.resume(actor, conn);
        return;
      }
      case PacketType.Publish: {
        const key = packet.payload.toString('utf8');
        this.stats.delivered++;
        const problem = conn.epoch.receive(
          key,
          packet.topic,
          packet.qos,
          packet.packetId,
          packet.dup,
        );
        if (problem !== null) this.violations.push(problem);
        if (packet.qos === 1) this.owe(conn, { kind: 'puback', id: packet.packetId });
        if (packet.qos === 2) {
          conn.inboundQos2.set(packet.packetId, key);
          this.owe(conn, { kind: 'pubrec', id: packet.packetId });
        }
        return;
      }
      case PacketType.Pubrel:
        conn.epoch.released(conn.inboundQos2.get(packet.packetId), packet.packetId);
        conn.inboundQos2.delete(packet.packetId);
        this.owe(conn, { kind: 'pubcomp', id: packet.packetId });
        return;
      case PacketType.Puback:
      case PacketType.Pubrec:
      case PacketType.Pubcomp:
        this.onPublisherAck(actor, conn, packet.type, packet.packetId, packet.reasonCode, at);
        return;
      case PacketType.Suback: {
        const request = conn.pendingRequests.get(packet.packetId);
        conn.pendingRequests.delete(packet.packetId);
        const code = packet.reasonCodes[0] ?? 0x80;
        if (request === undefined) {
          this.violations.push(`${actor.clientId}: SUBACK for unknown id ${packet.packetId}`);
        } else if (code < 0x80 && !request.cancelled) {
          conn.epoch.open(request.filter, code, at);
        }
        return;
      }
      case PacketType.Unsuback:
        if (!conn.pendingRequests.delete(packet.packetId)) {
          this.violations.push(`${actor.clientId}: UNSUBACK for unknown id ${packet.packetId}`);
        }
        return;
      case PacketType.Pingresp:
        return;
      case PacketType.Disconnect:
        if (!conn.closing) {
          this.violations.push(
            `${actor.clientId}: broker sent DISCONNECT 0x${packet.reasonCode.toString(16)} unprompted`,
          );
        }
        return;
      default:
        this.violations.push(`${actor.clientId}: unexpected packet type ${packet.type}`);
    }
  }

  private onPublisherAck(
    actor: SessionActor,
    conn: Connection,
    type: number,
    id: number,
    reasonCode: number,
    at: number,
  ): void {
    const list = actor.outgoing.get(id);
    const flow = list?.[0];
    if (list === undefined || flow === undefined) {
      // A PUBREC/PUBACK for a flow a takeover made us resend twice: harmless duplicates
      // of answers are allowed, answers to ids we never used are not.
      if (type === PacketType.Pubrec) conn.peer.send(pubrel(id));
      return;
    }
    const finish = (): void => {
      list.shift();
      if (list.length === 0) actor.outgoing.delete(id);
    };
    if (type === PacketType.Puback && flow.qos === 1) {
      if (reasonCode < 0x80 && flow.message !== null) flow.message.ackedAt = at;
      if (reasonCode < 0x80) this.stats.acked++;
      finish();
    } else if (type === PacketType.Pubrec && flow.qos === 2) {
      if (reasonCode >= 0x80) {
        finish();
        return;
      }
      flow.received = true;
      this.owe(conn, { kind: 'pubrel', id });
    } else if (type === PacketType.Pubcomp && flow.qos === 2 && flow.received) {
      if (flow.message !== null) flow.message.ackedAt = at;
      this.stats.acked++;
      finish();
    } else {
      this.violations.push(
        `${actor.clientId}: packet type ${type} for id ${id} in the wrong state`,
      );
    }
  }

  /** After CONNACK on a resumed session: resend what the broker may not have (DUP). */
  private resume(actor: SessionActor, conn: Connection): void {
    for (const [id, list] of actor.outgoing) {
      for (const flow of list) {
        if (flow.received) conn.peer.send(pubrel(id));
        else {
          flow.resent = true;
          flow.resentOn = conn;
          conn.peer.send(withDup(flow.bytes));
        }
      }
    }
  }

  private owe(conn: Connection, ack: HeldAck): void {
    if (this.draining || this.rng.chance(0.3)) this.sendAck(conn, ack);
    else conn.held.push(ack);
  }

  closed(peer: Peer, at: number): void {
    const actor = this.byPeer.get(peer);
    this.byPeer.delete(peer);
    if (actor === undefined) return;
    const conn = actor.conn;
    if (conn === null || conn.peer !== peer) return;
    trace(actor, `@${at} closed (by us: ${conn.closing})`);
    if (!conn.closing) {
      this.violations.push(
        `${actor.clientId}: the broker closed the connection unprompted (round ${this.round})`,
      );
    }
    actor.conn = null;
    if (!conn.epoch.persistent) conn.epoch.end(at);
  }

  garbage(peer: Peer, why: string): void {
    this.violations.push(`${peer.name}: the broker sent an undecodable packet: ${why}`);
  }

  // ---------------------------------------------------------------------------------------
  // Drain

  private async drain(): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    for (;;) {
      for (const actor of this.actors) {
        if (actor.conn === null && !actor.connecting && actor.persistent) this.connect(actor);
        const conn = actor.conn;
        if (conn !== null && conn.ready) this.flushHeld(conn, true);
      }
      const busy = this.actors.filter(
        (a) =>
          a.connecting ||
          (a.conn !== null &&
            (!a.conn.ready || a.conn.pendingRequests.size > 0 || a.outgoingCount() > 0)),
      );
      if (busy.length === 0 && Date.now() - this.lastPacketAt >= QUIET_MS) break;
      if (Date.now() > deadline) {
        this.violations.push(
          `round ${this.round}: no quiescence within ${DRAIN_TIMEOUT_MS} ms (stall): ` +
            busy
              .map(
                (a) =>
                  `${a.clientId} connecting=${a.connecting} ready=${a.conn?.ready ?? false} ` +
                  `requests=${a.conn?.pendingRequests.size ?? 0} outgoing=${a.outgoingCount()}`,
              )
              .join('; '),
        );
        break;
      }
      await delay(10);
    }
    this.draining = false;
  }
}

/** CONV_TRACE=<client id> (or *) prints that session's packets (for replays). */
function trace(actor: SessionActor, text: string): void {
  if (process.env.CONV_TRACE === actor.clientId || process.env.CONV_TRACE === '*')
    console.error(`${actor.clientId}: ${text}`);
}

function withDup(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[0] = (copy[0] as number) | 0x08;
  return copy;
}
