/**
 * The bare relay: the ceiling of a QoS 0 forwarder on Node, as a row of `npm run bench` (fan-in,
 * fan-out and the QoS 0 pairs), so "ours / relay" shows what the broker's own work costs on
 * top of Node's sockets. Only what those scenarios need: MQTT 3.1.1 CONNECT -> CONNACK,
 * SUBSCRIBE -> SUBACK (QoS 0 granted), PINGREQ -> PINGRESP, DISCONNECT; each PUBLISH frame is
 * copied as it came to every subscriber whose filter matches (exact topics, or a filter
 * ending in `#`). No sessions, no QoS 1/2, no retained messages, no checks: not a broker.
 * Writes are gathered per socket and flushed once per event-loop turn, and every socket has
 * TCP_NODELAY, as ours does (DEVIATIONS row 43): with Nagle on, the one-write-per-turn flushes
 * wait on delayed ACKs and the relay idles instead of measuring a ceiling.
 *
 *   node dist/bench/relay.js <port> [--tcp-nodelay (accepted; always on)]
 */
import { createServer } from 'node:net';
import type { Socket } from 'node:net';

const port = Number(process.argv[2]);
const noDelay = true;
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('usage: node dist/bench/relay.js <port> [--tcp-nodelay]\n');
  process.exit(2);
}

interface Client {
  readonly socket: Socket;
  /** Bytes of an incomplete frame from the previous read. */
  carry: Buffer | null;
  /** Frames waiting for this turn's flush. */
  pending: Buffer[];
  filters: string[];
}

const CONNACK = Buffer.from([0x20, 2, 0, 0]);
const PINGRESP = Buffer.from([0xd0, 0]);

/** Exact filters: topic -> subscribers. */
const exact = new Map<string, Set<Client>>();
/** Filters ending in `#`: prefix ("a/b/" for "a/b/#", "" for "#") -> subscribers. */
const prefixes = new Map<string, Set<Client>>();
const dirty = new Set<Client>();
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  for (const client of dirty) {
    const frames = client.pending;
    client.pending = [];
    if (!client.socket.destroyed) {
      client.socket.write(frames.length === 1 && frames[0] ? frames[0] : Buffer.concat(frames));
    }
  }
  dirty.clear();
}

function send(client: Client, frame: Buffer): void {
  // Frames of one read that follow each other in its buffer go out as one slice (fan-in:
  // a whole read for the one subscriber), so the flush copies few pieces.
  const last = client.pending[client.pending.length - 1];
  if (
    last !== undefined &&
    last.buffer === frame.buffer &&
    last.byteOffset + last.length === frame.byteOffset
  ) {
    client.pending[client.pending.length - 1] = Buffer.from(
      last.buffer,
      last.byteOffset,
      last.length + frame.length,
    );
  } else {
    client.pending.push(frame);
  }
  dirty.add(client);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

function addTo(map: Map<string, Set<Client>>, key: string, client: Client): void {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(client);
}

function subscribe(client: Client, body: Buffer): void {
  const granted: number[] = [];
  let pos = 2;
  while (pos + 2 <= body.length) {
    const length = body.readUInt16BE(pos);
    const filter = body.toString('latin1', pos + 2, pos + 2 + length);
    pos += 3 + length;
    client.filters.push(filter);
    if (filter.endsWith('#')) addTo(prefixes, filter.slice(0, -1), client);
    else addTo(exact, filter, client);
    granted.push(0);
  }
  send(client, Buffer.from([0x90, 2 + granted.length, body[0] ?? 0, body[1] ?? 0, ...granted]));
}

function route(frame: Buffer, body: Buffer): void {
  const topic = body.toString('latin1', 2, 2 + body.readUInt16BE(0));
  for (const client of exact.get(topic) ?? []) send(client, frame);
  for (const [prefix, clients] of prefixes) {
    if (topic.startsWith(prefix)) for (const client of clients) send(client, frame);
  }
}

function onFrame(client: Client, frame: Buffer, body: Buffer): void {
  switch ((frame[0] ?? 0) >> 4) {
    case 3:
      route(frame, body);
      break;
    case 1:
      send(client, CONNACK);
      break;
    case 8:
      subscribe(client, body);
      break;
    case 12:
      send(client, PINGRESP);
      break;
    case 14:
      client.socket.end();
      break;
    default:
      break;
  }
}

function onData(client: Client, chunk: Buffer): void {
  const data = client.carry === null ? chunk : Buffer.concat([client.carry, chunk]);
  client.carry = null;
  let pos = 0;
  while (pos + 2 <= data.length) {
    let length = 0;
    let multiplier = 1;
    let index = pos + 1;
    let complete = false;
    while (index < data.length && index - pos <= 4) {
      const byte = data[index++] ?? 0;
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) {
        complete = true;
        break;
      }
    }
    if (!complete || index + length > data.length) break;
    onFrame(client, data.subarray(pos, index + length), data.subarray(index, index + length));
    pos = index + length;
  }
  if (pos < data.length) client.carry = Buffer.from(data.subarray(pos));
}

function forget(client: Client): void {
  for (const filter of client.filters) {
    const map = filter.endsWith('#') ? prefixes : exact;
    const key = filter.endsWith('#') ? filter.slice(0, -1) : filter;
    map.get(key)?.delete(client);
    if (map.get(key)?.size === 0) map.delete(key);
  }
  dirty.delete(client);
}

const server = createServer({ noDelay }, (socket) => {
  const client: Client = { socket, carry: null, pending: [], filters: [] };
  socket.on('data', (chunk: Buffer) => {
    onData(client, chunk);
  });
  socket.on('error', () => {
    socket.destroy();
  });
  socket.on('close', () => {
    forget(client);
  });
});
server.on('error', (error: Error) => {
  process.stderr.write(`relay: ${error.message}\n`);
  process.exit(1);
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  process.exit(0);
});
