/**
 * One MQTT connection of the conversation fuzzer: a socket, our own client-side decoder
 * (so every packet the broker sends is parsed strictly) and a logical clock shared by all
 * peers, so the oracle can order "sent" and "received" events across connections. Each
 * peer knows nothing of MQTT flows: conversation-driver.ts decides what to send.
 */
import type { Buffer } from 'node:buffer';
import { connect as netConnect, type Socket } from 'node:net';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import type { ProtocolVersion } from '../../src/protocol/constants.ts';
import type { Packet } from '../../src/protocol/packets.ts';

/** Orders every send and receive of a run (all in one thread, so a counter suffices). */
export class LogicalClock {
  private tick = 0;
  now(): number {
    return ++this.tick;
  }
}

export interface PeerHandlers {
  packet(peer: Peer, packet: Packet, at: number): void;
  closed(peer: Peer, at: number): void;
  /** A packet the client-side decoder refused: the broker sent something invalid. */
  garbage(peer: Peer, why: string): void;
}

export class Peer {
  private readonly decoder: FrameDecoder;
  private closedAt = -1;

  private constructor(
    readonly name: string,
    private readonly socket: Socket,
    private readonly clock: LogicalClock,
    private readonly handlers: PeerHandlers,
    version: ProtocolVersion,
  ) {
    this.decoder = new FrameDecoder({ protocolVersion: version });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.onData(chunk);
    });
    // Resets are an answer (a takeover, a protocol error), never a failure of the driver.
    socket.on('error', () => {
      this.onClose();
    });
    socket.on('close', () => {
      this.onClose();
    });
  }

  static open(
    name: string,
    port: number,
    clock: LogicalClock,
    handlers: PeerHandlers,
    version: ProtocolVersion,
  ): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host: '127.0.0.1' });
      const onError = (error: Error): void => {
        reject(new Error(`${name}: connect to port ${port} failed: ${error.message}`));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new Peer(name, socket, clock, handlers, version));
      });
    });
  }

  get isClosed(): boolean {
    return this.closedAt >= 0;
  }

  /** Writes bytes; returns the logical time of the send, or -1 when already closed. */
  send(bytes: Buffer): number {
    if (this.isClosed) return -1;
    this.socket.write(bytes);
    return this.clock.now();
  }

  /** Abrupt loss of the connection (no DISCONNECT). */
  drop(): void {
    this.socket.destroy();
    this.onClose();
  }

  /** A polite close: FIN after whatever was written. */
  end(): void {
    this.socket.end();
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed) return;
    this.decoder.push(chunk);
    try {
      for (let p = this.decoder.next(); p !== null; p = this.decoder.next()) {
        this.handlers.packet(this, p, this.clock.now());
      }
    } catch (error) {
      this.handlers.garbage(this, (error as Error).message);
      this.drop();
    }
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.closedAt = this.clock.now();
    this.handlers.closed(this, this.closedAt);
  }
}

/** mulberry32: a small, fast, seedable PRNG (the same seed replays the same choices). */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}
