/**
 * A byte-level MQTT client for conversations with a broker: it sends exactly the bytes it is
 * given and hands back whole packets as they arrive, split only by the fixed header's
 * remaining length. It knows nothing else about MQTT, so it cannot hide a broker's mistake.
 */
import { Buffer } from 'node:buffer';
import { connect as netConnect, type Socket } from 'node:net';
import { hex, toHex } from './packet-bytes.ts';

/** How long to wait for a packet or a close before calling it a timeout. */
export const DEFAULT_EVENT_TIMEOUT_MS = 2000;

/** What the next read saw: a whole packet, the end of the connection, or nothing in time. */
export type RawEvent =
  | { readonly kind: 'packet'; readonly bytes: Buffer }
  | { readonly kind: 'closed' }
  | { readonly kind: 'timeout' };

/** An event as one line: the packet in hex, 'closed' or 'timeout'. */
export function describeEvent(event: RawEvent): string {
  return event.kind === 'packet' ? toHex(event.bytes) : event.kind;
}

interface Waiter {
  readonly resolve: (event: RawEvent) => void;
  readonly timer: NodeJS.Timeout;
}

export class RawClient {
  /** Complete packets received and not read yet, oldest first. */
  private readonly packets: Buffer[] = [];
  private pending: Buffer = Buffer.alloc(0);
  private waiter: Waiter | null = null;
  private closedFlag = false;
  private socketError: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.onData(chunk);
    });
    // An error (ECONNRESET, EPIPE) ends the connection like a close does; it is kept for
    // diagnostics but never thrown, because "the broker reset us" is an answer, not a failure.
    socket.on('error', (error: Error) => {
      this.socketError = error;
      this.onClose();
    });
    socket.on('end', () => {
      this.onClose();
    });
    socket.on('close', () => {
      this.onClose();
    });
  }

  /**
   * Opens a TCP connection; rejects if it cannot be established within the timeout.
   * `localAddress` picks the source address (any 127.x.y.z works on Linux's loopback).
   */
  static open(
    port: number,
    host = '127.0.0.1',
    timeoutMs = DEFAULT_EVENT_TIMEOUT_MS,
    localAddress?: string,
  ): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({
        port,
        host,
        ...(localAddress === undefined ? {} : { localAddress }),
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (error: Error): void => {
        clearTimeout(timer);
        reject(error);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new RawClient(socket));
      });
    });
  }

  /** True once the peer closed (or reset) the connection, or we destroyed it. */
  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** The socket error that ended the connection, if it ended with one. */
  get error(): Error | null {
    return this.socketError;
  }

  /** Sends bytes (a Buffer, or hex text such as 'c0 00'). Silently dropped once closed. */
  send(data: Buffer | string): void {
    if (this.closedFlag) return;
    this.socket.write(typeof data === 'string' ? hex(data) : data);
  }

  /** The next packet, or 'closed' once the connection ended and all packets were read. */
  next(timeoutMs = DEFAULT_EVENT_TIMEOUT_MS): Promise<RawEvent> {
    if (this.waiter !== null) throw new Error('RawClient.next: a read is already waiting');
    const immediate = this.takeEvent();
    if (immediate !== null) return Promise.resolve(immediate);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      this.waiter = { resolve, timer };
    });
  }

  /** The next packet; throws if the connection closes or nothing arrives in time. */
  async expectPacket(timeoutMs = DEFAULT_EVENT_TIMEOUT_MS): Promise<Buffer> {
    const event = await this.next(timeoutMs);
    if (event.kind !== 'packet') throw new Error(`expected a packet, got: ${event.kind}`);
    return event.bytes;
  }

  /** Waits for the connection to end; throws if a packet arrives first or it stays open. */
  async expectClosed(timeoutMs = DEFAULT_EVENT_TIMEOUT_MS): Promise<void> {
    const event = await this.next(timeoutMs);
    if (event.kind !== 'closed') {
      throw new Error(`expected the connection to close, got: ${describeEvent(event)}`);
    }
  }

  /** Every packet until the connection ends (or the time is up: `closed` says which). */
  async collectUntilClose(
    timeoutMs = DEFAULT_EVENT_TIMEOUT_MS,
  ): Promise<{ packets: Buffer[]; closed: boolean }> {
    const deadline = Date.now() + timeoutMs;
    const packets: Buffer[] = [];
    for (;;) {
      const event = await this.next(Math.max(0, deadline - Date.now()));
      if (event.kind === 'packet') packets.push(event.bytes);
      else return { packets, closed: event.kind === 'closed' };
    }
  }

  /** Half-closes our side (FIN), as a client does after DISCONNECT. */
  end(): void {
    this.socket.end();
  }

  /** Drops the connection at once without any MQTT goodbye (a network loss, for wills). */
  destroy(): void {
    this.socket.destroy();
    this.onClose();
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const length = frameLength(this.pending);
      if (length === null || Number.isNaN(length) || length > this.pending.length) break;
      this.packets.push(this.pending.subarray(0, length));
      this.pending = this.pending.subarray(length);
    }
    if (Number.isNaN(frameLength(this.pending))) {
      // Garbage from the broker: hand it over as one "packet" so the transcript shows it,
      // and stop reading, since nothing after it can be framed.
      this.packets.push(this.pending);
      this.pending = Buffer.alloc(0);
      this.socket.destroy();
      this.onClose();
    }
    this.wake();
  }

  private onClose(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.wake();
  }

  private takeEvent(): RawEvent | null {
    const bytes = this.packets.shift();
    if (bytes !== undefined) return { kind: 'packet', bytes };
    if (this.closedFlag) return { kind: 'closed' };
    return null;
  }

  private wake(): void {
    const waiter = this.waiter;
    if (waiter === null) return;
    const event = this.takeEvent();
    if (event === null) return;
    this.waiter = null;
    clearTimeout(waiter.timer);
    waiter.resolve(event);
  }
}

/**
 * The total length of the packet at the start of `bytes`, null while the fixed header is
 * incomplete, or NaN when the remaining length runs over 4 bytes (no correct broker sends
 * that; the caller shows the bytes rather than waiting forever).
 */
export function frameLength(bytes: Buffer): number | null {
  let value = 0;
  let multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    const byte = bytes[i];
    if (byte === undefined) return null;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return 1 + i + value;
    multiplier *= 128;
  }
  return Number.NaN;
}
