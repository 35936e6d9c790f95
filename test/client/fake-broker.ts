/**
 * A scripted MQTT server on a real 127.0.0.1 socket, for the client behaviours a real
 * broker will not show on demand: dropping a connection between PUBLISH and PUBACK,
 * ignoring PINGREQ, never sending CONNACK, sending topic aliases or DISCONNECT. Each
 * accepted connection decodes with our codec; the test reads packets and writes replies.
 */
import type { Buffer } from 'node:buffer';
import { createServer, type Server, type Socket } from 'node:net';
import { PacketType, ProtocolVersion } from '../../src/protocol/constants.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodePacket } from '../../src/protocol/encoder.ts';
import { EMPTY_PROPERTIES, type Packet, type Properties } from '../../src/protocol/packets.ts';

export class FakeConnection {
  readonly packets: Packet[] = [];
  private readonly waiters: (() => void)[] = [];
  private readonly decoder = new FrameDecoder({ expectConnect: true });
  version: ProtocolVersion = ProtocolVersion.V311;
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      for (;;) {
        let packet: Packet | null;
        try {
          packet = this.decoder.next();
        } catch {
          socket.destroy();
          return;
        }
        if (packet === null) break;
        if (packet.type === PacketType.Connect) {
          this.version = packet.protocolVersion;
          this.decoder.protocolVersion = packet.protocolVersion;
        }
        this.packets.push(packet);
        for (const w of this.waiters.splice(0)) w();
      }
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
  }

  /** Waits for the n-th packet (0-based) received on this connection. */
  async packet(index: number, timeoutMs = 3000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    while (this.packets.length <= index) {
      if (this.closed) throw new Error(`connection closed after ${this.packets.length} packets`);
      if (Date.now() > deadline) throw new Error(`packet ${index} did not arrive`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.packets[index] as Packet;
  }

  /** The first packet of `type` at or after `from`. */
  async next(type: number, from = 0): Promise<Packet> {
    for (let i = from; ; i++) {
      const packet = await this.packet(i);
      if (packet.type === type) return packet;
    }
  }

  send(packet: Packet): void {
    this.socket.write(encodePacket(packet, this.version));
  }

  connack(reasonCode = 0, properties: Properties = EMPTY_PROPERTIES, sessionPresent = false): void {
    this.send({ type: PacketType.Connack, sessionPresent, reasonCode, properties });
  }

  ack(type: 4 | 5 | 6 | 7, packetId: number, reasonCode = 0): void {
    this.send({ type, packetId, reasonCode, properties: EMPTY_PROPERTIES });
  }

  drop(): void {
    this.socket.destroy();
  }
}

export class FakeBroker {
  readonly connections: FakeConnection[] = [];
  private readonly waiters: (() => void)[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    server.on('connection', (socket) => {
      this.connections.push(new FakeConnection(socket));
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async start(): Promise<FakeBroker> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    return new FakeBroker(server, port);
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Waits for the n-th connection (0-based). */
  async connection(index: number, timeoutMs = 3000): Promise<FakeConnection> {
    const deadline = Date.now() + timeoutMs;
    while (this.connections.length <= index) {
      if (Date.now() > deadline) throw new Error(`connection ${index} did not arrive`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.connections[index] as FakeConnection;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }
}
