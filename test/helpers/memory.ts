/**
 * Memory and latency probes for the reliability tests: the in-process heap after a forced
 * collection, a child process's resident set, and MQTT ping round trips from a client.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { RawClient } from './raw-client.ts';
import { connect, pingreq } from './packet-bytes.ts';

export const MB = 1024 * 1024;

let gcFunction: (() => void) | null | undefined;

/** V8's gc(), made available at run time (node --test gives no --expose-gc). */
export function forceGc(): void {
  if (gcFunction === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const gc: unknown = vm.runInNewContext('gc');
      gcFunction = typeof gc === 'function' ? (gc as () => void) : null;
    } catch {
      gcFunction = null;
    }
  }
  if (gcFunction === null) throw new Error('cannot force a garbage collection in this process');
  gcFunction();
  gcFunction();
}

/** Live JavaScript heap plus Buffer memory, after a full collection. */
export async function liveBytes(): Promise<number> {
  // Closed sockets release their handles on a later turn; let them before collecting.
  await delay(50);
  forceGc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** A connected client that measures PINGREQ -> PINGRESP round trips (ms). */
export class PingProbe {
  private constructor(private readonly client: RawClient) {}

  static async open(port: number, clientId: string): Promise<PingProbe> {
    const client = await RawClient.open(port);
    client.send(connect({ clientId, keepAlive: 0 }));
    await client.expectPacket();
    return new PingProbe(client);
  }

  async roundTrip(timeoutMs = 5000): Promise<number> {
    const start = performance.now();
    this.client.send(pingreq());
    await this.client.expectPacket(timeoutMs);
    return performance.now() - start;
  }

  /** Median of `count` round trips, `gapMs` apart. */
  async median(count: number, gapMs = 5): Promise<number> {
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      samples.push(await this.roundTrip());
      await delay(gapMs);
    }
    samples.sort((a, b) => a - b);
    return samples[Math.floor(samples.length / 2)] as number;
  }

  close(): void {
    this.client.destroy();
  }
}
