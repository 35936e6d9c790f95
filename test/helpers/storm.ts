/**
 * Load generators for the reliability tests: a client-id takeover storm (clients
 * reconnecting in a tight loop on a few shared client ids, each new CONNECT taking the
 * session over from the previous connection) and a connection storm at a set rate.
 */
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from './packet-bytes.ts';
import type { WireVersion } from './packet-bytes.ts';

export interface StormResult {
  /** CONNACKs received. */
  connects: number;
  /** Connections that ended without a CONNACK (refused, reset). */
  failures: number;
}

/** One connection: CONNECT, resolve at the first bytes back (CONNACK) or at the close. */
function connectOnce(
  port: number,
  clientId: string,
  version: WireVersion,
  cleanStart: boolean,
  sockets: Set<Socket>,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ port, host: '127.0.0.1' });
    sockets.add(socket);
    let done = false;
    const finish = (answered: boolean): void => {
      if (done) return;
      done = true;
      resolve(answered);
    };
    socket.on('connect', () => {
      socket.write(connect({ clientId, version, cleanStart, keepAlive: 60 }));
    });
    socket.once('data', () => {
      finish(true);
    });
    socket.on('error', () => {
      finish(false);
    });
    socket.on('close', () => {
      sockets.delete(socket);
      finish(false);
    });
  });
}

export interface TakeoverStormOptions {
  readonly port: number;
  readonly durationMs: number;
  readonly ids?: number;
  /** Concurrent reconnect loops per client id (more loops, more takeovers in flight). */
  readonly loopsPerId?: number;
  readonly version?: WireVersion;
  readonly cleanStart?: boolean;
  readonly prefix?: string;
}

/**
 * Reconnects in tight loops on `ids` shared client ids for `durationMs`. Each connection
 * stays open until the broker closes it for the next takeover; the last one of each id is
 * closed by us at the end, so afterwards nothing of the storm is connected.
 */
export async function takeoverStorm(options: TakeoverStormOptions): Promise<StormResult> {
  const result: StormResult = { connects: 0, failures: 0 };
  const sockets = new Set<Socket>();
  const endAt = Date.now() + options.durationMs;
  const loops: Promise<void>[] = [];
  for (let i = 0; i < (options.ids ?? 5); i++) {
    const clientId = `${options.prefix ?? 'storm'}-${i}`;
    for (let j = 0; j < (options.loopsPerId ?? 4); j++) {
      loops.push(
        (async () => {
          while (Date.now() < endAt) {
            const answered = await connectOnce(
              options.port,
              clientId,
              options.version ?? 4,
              options.cleanStart ?? true,
              sockets,
            );
            if (answered) result.connects++;
            else result.failures++;
          }
        })(),
      );
    }
  }
  await Promise.all(loops);
  for (const socket of sockets) socket.destroy();
  return result;
}

/**
 * Opens `perSecond` connections a second (each CONNECTs with its own id, reads its
 * CONNACK and disconnects) for `durationMs`.
 */
export async function connectionStorm(
  port: number,
  perSecond: number,
  durationMs: number,
): Promise<StormResult> {
  const result: StormResult = { connects: 0, failures: 0 };
  const sockets = new Set<Socket>();
  const pending: Promise<void>[] = [];
  const start = Date.now();
  const batch = Math.max(1, Math.round(perSecond / 100));
  let n = 0;
  while (Date.now() - start < durationMs) {
    for (let i = 0; i < batch; i++) {
      const id = `flood-${n++}`;
      pending.push(
        connectOnce(port, id, 4, true, sockets).then((answered) => {
          if (answered) result.connects++;
          else result.failures++;
        }),
      );
    }
    // Paced to the wall clock, so a slow broker does not get fewer connects a second.
    const due = start + (n / perSecond) * 1000;
    await delay(Math.max(0, due - Date.now()));
    for (const socket of sockets) if (socket.bytesRead > 0) socket.end();
  }
  await Promise.race([Promise.all(pending), delay(10_000, undefined, { ref: false })]);
  for (const socket of sockets) socket.destroy();
  return result;
}
