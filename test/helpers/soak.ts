/**
 * The soak: bin/mosquitto as a child process under mixed traffic with clients coming and
 * going (publishers at QoS 0/1/2, subscribers on wildcards, takeovers, retained messages
 * replaced in place), while its RSS and a probe client's ping round trip are sampled.
 * Used by scripts/soak.ts (minutes by hand) and test/reliability/soak.test.ts (seconds).
 */
import { setTimeout as delay } from 'node:timers/promises';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { PingProbe, rssOf } from './memory.ts';
import { ourBroker } from './process.ts';

export interface SoakSample {
  readonly atSeconds: number;
  readonly rssBytes: number;
  readonly pingMs: number;
}

export interface SoakReport {
  readonly samples: SoakSample[];
  readonly published: number;
  readonly received: number;
  readonly churn: number;
  readonly brokerOutput: string;
}

const TOPICS = ['soak/a/1', 'soak/a/2', 'soak/b/1', 'soak/b/2/x'];

function connectClient(url: string, clientId: string, clean: boolean): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { clientId, clean, reconnectPeriod: 0, connectTimeout: 5000 });
    client.once('connect', () => {
      resolve(client);
    });
    client.once('error', reject);
  });
}

/** Runs the soak for `durationMs`, sampling every `sampleMs`. */
export async function runSoak(durationMs: number, sampleMs: number): Promise<SoakReport> {
  const broker = await ourBroker.start({ config: ['max_queued_messages 1000'] });
  const pid = (broker as unknown as { child: { pid: number } }).child.pid;
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const counters = { published: 0, received: 0, churn: 0 };
  const samples: SoakSample[] = [];
  const start = Date.now();
  const endAt = start + durationMs;
  const subscribers: MqttClient[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const sub = await connectClient(url, `soak-sub-${i}`, i % 2 === 0);
      sub.on('message', () => {
        counters.received++;
      });
      await sub.subscribeAsync(i % 2 === 0 ? 'soak/#' : 'soak/+/1', { qos: (i % 3) as 0 | 1 | 2 });
      subscribers.push(sub);
    }
    const probe = await PingProbe.open(broker.port, 'soak-probe');
    // Publishers come and go: each connects, sends a burst at every QoS, disconnects.
    const publisherLoop = async (n: number): Promise<void> => {
      for (let round = 0; Date.now() < endAt; round++) {
        const client = await connectClient(url, `soak-pub-${n}-${round % 3}`, round % 2 === 0);
        for (let k = 0; k < 20 && Date.now() < endAt; k++) {
          const topic = TOPICS[(n + k) % TOPICS.length] as string;
          await client.publishAsync(topic, `m${n}.${round}.${k}`, {
            qos: (k % 3) as 0 | 1 | 2,
            retain: k % 10 === 0,
          });
          counters.published++;
        }
        if (round % 4 === 3) client.end(true);
        else await client.endAsync();
        counters.churn++;
        await delay(5);
      }
    };
    // A subscriber that reconnects with a persistent session, missing messages meanwhile.
    const churnLoop = async (): Promise<void> => {
      while (Date.now() < endAt) {
        const client = await connectClient(url, 'soak-churn', false);
        await client.subscribeAsync('soak/a/#', { qos: 1 });
        await delay(50);
        client.end(true);
        counters.churn++;
        await delay(50);
      }
    };
    const sampler = async (): Promise<void> => {
      while (Date.now() < endAt) {
        await delay(sampleMs);
        samples.push({
          atSeconds: (Date.now() - start) / 1000,
          rssBytes: rssOf(pid),
          pingMs: await probe.median(5, 2),
        });
      }
    };
    await Promise.all([
      publisherLoop(0),
      publisherLoop(1),
      publisherLoop(2),
      churnLoop(),
      sampler(),
    ]);
    probe.close();
    return { samples, ...counters, brokerOutput: broker.output() };
  } finally {
    for (const sub of subscribers) sub.end(true);
    await broker.stop();
  }
}

/** Mean of a numeric field over samples [from, to) of the run (fractions of it). */
export function windowMean(
  samples: readonly SoakSample[],
  from: number,
  to: number,
  field: 'rssBytes' | 'pingMs',
): number {
  const slice = samples.slice(Math.floor(samples.length * from), Math.ceil(samples.length * to));
  if (slice.length === 0) throw new Error('no samples in the window');
  return slice.reduce((sum, s) => sum + s[field], 0) / slice.length;
}
