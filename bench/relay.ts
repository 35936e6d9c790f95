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
  /**
   * This turn's output as ranges of received chunks (or of constant packets): `chunks[i]`
   * from `starts[i]` to `ends[i]`. A frame that follows the previous range in the same
   * chunk extends it, so a whole read bound for one subscriber stays one range, and no
   * Buffer object is made per frame.
   */
  chunks: Buffer[];
  starts: number[];
  ends: number[];
  filters: string[];
}

const CONNACK = Buffer.from([0x20, 2, 0, 0]);
const PINGRESP = Buffer.from([0xd0, 0]);

/** Exact filters: topic -> subscribers. */
const exact = new Map<string, Client[]>();
/** Filters ending in `#`: prefix ("a/b/" for "a/b/#", "" for "#") -> subscribers. */
const prefixes = new Map<string, Client[]>();
/** prefixes as an array, rebuilt on (un)subscribe: iterating a Map per frame costs more. */
let prefixList: [string, Client[]][] = [];
let dirty: Client[] = [];
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  const batch = dirty;
  dirty = [];
  for (const client of batch) {
    const { chunks, starts, ends } = client;
    const count = chunks.length;
    let out: Buffer;
    if (count === 1) {
      out = (chunks[0] as Buffer).subarray(starts[0], ends[0]);
    } else {
      let total = 0;
      for (let i = 0; i < count; i++) total += (ends[i] as number) - (starts[i] as number);
      out = Buffer.allocUnsafe(total);
      let at = 0;
      for (let i = 0; i < count; i++) {
        at += (chunks[i] as Buffer).copy(out, at, starts[i], ends[i]);
      }
    }
    chunks.length = 0;
    starts.length = 0;
    ends.length = 0;
    if (!client.socket.destroyed) client.socket.write(out);
  }
}

function send(client: Client, chunk: Buffer, start: number, end: number): void {
  const last = client.chunks.length - 1;
  if (last < 0) {
    dirty.push(client);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  } else if (client.chunks[last] === chunk && client.ends[last] === start) {
    client.ends[last] = end;
    return;
  }
  client.chunks.push(chunk);
  client.starts.push(start);
  client.ends.push(end);
}

function sendAll(packet: Buffer, client: Client): void {
  send(client, packet, 0, packet.length);
}

function addTo(map: Map<string, Client[]>, key: string, client: Client): void {
  let list = map.get(key);
  if (list === undefined) {
    list = [];
    map.set(key, list);
  }
  if (!list.includes(client)) list.push(client);
  prefixList = [...prefixes];
}

function subscribe(client: Client, data: Buffer, start: number, end: number): void {
  const granted: number[] = [];
  let pos = start + 2;
  while (pos + 2 <= end) {
    const length = data.readUInt16BE(pos);
    const filter = data.toString('latin1', pos + 2, pos + 2 + length);
    pos += 3 + length;
    client.filters.push(filter);
    if (filter.endsWith('#')) addTo(prefixes, filter.slice(0, -1), client);
    else addTo(exact, filter, client);
    granted.push(0);
  }
  sendAll(
    Buffer.from([0x90, 2 + granted.length, data[start] ?? 0, data[start + 1] ?? 0, ...granted]),
    client,
  );
}

/** One PUBLISH frame `data[frameStart..end)` whose variable header starts at `body`. */
function route(data: Buffer, frameStart: number, body: number, end: number): void {
  const topicLength = ((data[body] ?? 0) << 8) | (data[body + 1] ?? 0);
  const topic = data.toString('latin1', body + 2, body + 2 + topicLength);
  const list = exact.get(topic);
  if (list !== undefined) for (const client of list) send(client, data, frameStart, end);
  for (const [prefix, clients] of prefixList) {
    if (topic.startsWith(prefix)) for (const client of clients) send(client, data, frameStart, end);
  }
}

function onFrame(
  client: Client,
  data: Buffer,
  frameStart: number,
  body: number,
  end: number,
): void {
  switch ((data[frameStart] ?? 0) >> 4) {
    case 3:
      route(data, frameStart, body, end);
      break;
    case 1:
      sendAll(CONNACK, client);
      break;
    case 8:
      subscribe(client, data, body, end);
      break;
    case 12:
      sendAll(PINGRESP, client);
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
  const length = data.length;
  let pos = 0;
  while (pos + 2 <= length) {
    let remaining = 0;
    let multiplier = 1;
    let index = pos + 1;
    let complete = false;
    while (index < length && index - pos <= 4) {
      const byte = data[index++] as number;
      remaining += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) {
        complete = true;
        break;
      }
    }
    if (!complete || index + remaining > length) break;
    onFrame(client, data, pos, index, index + remaining);
    pos = index + remaining;
  }
  if (pos < length) client.carry = Buffer.from(data.subarray(pos));
}

function forget(client: Client): void {
  for (const filter of client.filters) {
    const map = filter.endsWith('#') ? prefixes : exact;
    const key = filter.endsWith('#') ? filter.slice(0, -1) : filter;
    const list = map.get(key);
    if (list === undefined) continue;
    const at = list.indexOf(client);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) map.delete(key);
  }
  prefixList = [...prefixes];
  const at = dirty.indexOf(client);
  if (at >= 0) dirty.splice(at, 1);
}

const server = createServer({ noDelay }, (socket) => {
  const client: Client = { socket, carry: null, chunks: [], starts: [], ends: [], filters: [] };
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
