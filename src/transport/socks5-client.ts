/**
 * The client half of a SOCKS5 handshake (RFC 1928, RFC 1929), as libmosquitto's
 * socks_mosq.c speaks it: offer "no authentication" (and "username/password" when a
 * username is given), then CONNECT to the broker by host name (ATYP 3, so the proxy
 * resolves it: the `socks5h://` scheme) or by IP address.
 *
 * Runs over an already connected socket to the proxy; on success the socket carries the
 * tunnelled stream and any bytes the proxy sent after its reply are pushed back.
 */
import { Buffer } from 'node:buffer';
import net from 'node:net';
import type { Socket } from 'node:net';

export interface Socks5Target {
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
}

/** A SOCKS5 failure: the proxy refused, or spoke something else. */
export class Socks5Error extends Error {
  override readonly name = 'Socks5Error';
  /** The reply code of a refused CONNECT (RFC 1928 §6), or -1. */
  readonly replyCode: number;
  constructor(message: string, replyCode = -1) {
    super(message);
    this.replyCode = replyCode;
  }
}

const VERSION = 0x05;
const METHOD_NONE = 0x00;
const METHOD_USERPASS = 0x02;
const METHOD_REFUSED = 0xff;

/** Performs the handshake; resolves when the tunnel to `target` is open. */
export async function socks5Handshake(socket: Socket, target: Socks5Target): Promise<void> {
  const reader = new ReplyReader(socket);
  try {
    const methods = target.username === undefined ? [METHOD_NONE] : [METHOD_NONE, METHOD_USERPASS];
    socket.write(Buffer.from([VERSION, methods.length, ...methods]));
    const choice = await reader.read(2);
    if (choice[0] !== VERSION) throw new Socks5Error('not a SOCKS5 proxy');
    const method = choice[1];
    if (method === METHOD_USERPASS && target.username !== undefined) {
      const user = Buffer.from(target.username, 'utf8');
      const pass = Buffer.from(target.password ?? '', 'utf8');
      if (user.length > 255 || pass.length > 255) {
        throw new Socks5Error('proxy username or password too long');
      }
      socket.write(
        Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]),
      );
      const status = await reader.read(2);
      if (status[1] !== 0) throw new Socks5Error('proxy authentication failed');
    } else if (method === METHOD_REFUSED || method !== METHOD_NONE) {
      throw new Socks5Error('proxy refused every authentication method');
    }

    socket.write(connectRequest(target.host, target.port));
    const head = await reader.read(4);
    if (head[0] !== VERSION) throw new Socks5Error('not a SOCKS5 proxy');
    const reply = head[1] ?? 0xff;
    if (reply !== 0) throw new Socks5Error(`proxy refused the connection (reply ${reply})`, reply);
    const addressType = head[3];
    let rest: number;
    if (addressType === 1) rest = 4 + 2;
    else if (addressType === 4) rest = 16 + 2;
    else if (addressType === 3) rest = ((await reader.read(1))[0] ?? 0) + 2;
    else throw new Socks5Error('malformed proxy reply');
    await reader.read(rest);
  } finally {
    reader.release();
  }
}

function connectRequest(host: string, port: number): Buffer {
  const portBytes = Buffer.from([(port >> 8) & 0xff, port & 0xff]);
  const ipVersion = net.isIP(host);
  if (ipVersion === 4) {
    return Buffer.concat([
      Buffer.from([VERSION, 1, 0, 1]),
      Buffer.from(host.split('.').map(Number)),
      portBytes,
    ]);
  }
  if (ipVersion === 6) {
    return Buffer.concat([Buffer.from([VERSION, 1, 0, 4]), ipv6Bytes(host), portBytes]);
  }
  const name = Buffer.from(host, 'utf8');
  if (name.length > 255) throw new Socks5Error('host name too long for SOCKS5');
  return Buffer.concat([Buffer.from([VERSION, 1, 0, 3, name.length]), name, portBytes]);
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = [
    ...left,
    ...new Array<string>(8 - left.length - right.length).fill('0'),
    ...right,
  ];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => {
    bytes.writeUInt16BE(parseInt(group, 16), i * 2);
  });
  return bytes;
}

/** Reads exact byte counts from a socket during the handshake, then gets out of the way. */
class ReplyReader {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: {
    count: number;
    resolve: (b: Buffer) => void;
    reject: (e: Error) => void;
  } | null = null;
  private failure: Error | null = null;

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('error', this.onEnd);
    socket.on('close', this.onEnd);
  }

  read(count: number): Promise<Buffer> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { count, resolve, reject };
      this.deliver();
    });
  }

  /** Stops listening; bytes read past the handshake go back to the socket's readers. */
  release(): void {
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onEnd);
    this.socket.off('close', this.onEnd);
    // Paused until the next owner attaches its listeners and resumes the socket.
    this.socket.pause();
    if (this.buffered.length > 0) this.socket.unshift(this.buffered);
    this.buffered = Buffer.alloc(0);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    this.deliver();
  };

  private readonly onEnd = (error?: unknown): void => {
    this.failure = error instanceof Error ? error : new Socks5Error('proxy closed the connection');
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.reject(this.failure);
  };

  private deliver(): void {
    const waiting = this.waiting;
    if (waiting === null || this.buffered.length < waiting.count) return;
    this.waiting = null;
    const out = this.buffered.subarray(0, waiting.count);
    this.buffered = this.buffered.subarray(waiting.count);
    waiting.resolve(out);
  }
}
