/**
 * A scripted remote broker for bridge tests (what Mosquitto's 06-bridge-*.py tests do
 * with a listening socket): it accepts the bridge's connections one at a time and lets
 * the test read the bridge's packets, as decoded packets and as raw bytes, and answer
 * with bytes of its choosing.
 */
import { Buffer } from 'node:buffer';
import net from 'node:net';
import type { ProtocolVersion } from '../../src/protocol/constants.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import type { Packet } from '../../src/protocol/packets.ts';
import { frameLength } from './raw-client.ts';

/** One connection from the bridge, seen from the remote's side. */
export class RemoteLink {
  readonly socket: net.Socket;
  readonly frames: Buffer[] = [];
  #pending: Buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  closed = false;
  #decoder = new FrameDecoder({ expectConnect: true });

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#pending = Buffer.concat([this.#pending, chunk]);
      for (;;) {
        const length = frameLength(this.#pending);
        if (length === null || this.#pending.length < length) break;
        this.frames.push(this.#pending.subarray(0, length));
        this.#pending = this.#pending.subarray(length);
      }
      this.#wake();
    });
    const onClose = (): void => {
      this.closed = true;
      this.#wake();
    };
    socket.on('close', onClose);
    socket.on('end', onClose);
    socket.on('error', onClose);
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** The next frame the bridge sent (raw bytes); rejects on close or timeout. */
  async nextFrame(timeoutMs = 3000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.frames.shift();
      if (frame !== undefined) return frame;
      if (this.closed) throw new Error('the bridge closed its connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet from the bridge within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The next packet, decoded as a server decodes it (CONNECT first). */
  async next(timeoutMs = 3000): Promise<Packet> {
    const frame = await this.nextFrame(timeoutMs);
    this.#decoder.push(frame);
    const packet = this.#decoder.next();
    if (packet === null) throw new Error('incomplete frame');
    if (packet.type === 1) this.#decoder.protocolVersion = packet.protocolVersion;
    return packet;
  }

  /** Sets the version the bridge's packets are decoded with (after CONNECT it is known). */
  useVersion(version: ProtocolVersion): void {
    this.#decoder.protocolVersion = version;
  }

  send(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'hex') : bytes);
  }

  /** Resolves when the bridge closed the connection (rejects after the timeout). */
  async waitClosed(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('the bridge kept the connection open');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

export class FakeRemote {
  readonly server: net.Server;
  readonly port: number;
  readonly links: RemoteLink[] = [];
  #waiters: (() => void)[] = [];

  private constructor(server: net.Server, port: number) {
    this.server = server;
    this.port = port;
    server.on('connection', (socket) => {
      this.links.push(new RemoteLink(socket));
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
  }

  static async listen(port = 0): Promise<FakeRemote> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return new FakeRemote(server, address.port);
  }

  /** The `index`-th connection the bridge made (0 first), once it arrives. */
  async link(index: number, timeoutMs = 3000): Promise<RemoteLink> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const link = this.links[index];
      if (link !== undefined) return link;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the bridge did not make connection #${index + 1}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    for (const link of this.links) link.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }
}
