/**
 * Faults a broker on the open internet meets (features §7.2: CVE-2017-7652 was a SIGHUP
 * during fd exhaustion resetting security to defaults): certificate and key files
 * replaced by garbage or deleted before a reload, a config file that cannot be read on
 * SIGHUP, file descriptors exhausted, and SIGTERM in the middle of heavy QoS 1 traffic.
 * In each, the broker keeps what it had, says why in its log, and keeps serving.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTempDir, trackTempDir } from '../helpers/children.ts';
import tls from 'node:tls';
import { certificateWatchTiming } from '../../src/broker/certificate-watcher.ts';
import type { CertificatePair } from '../helpers/certs.ts';
import { TestPki, opensslSkip } from '../helpers/certs.ts';
import { mqttConnect, waitFor } from '../helpers/broker.ts';
import type { RunningBroker } from '../helpers/process.ts';
import { ourBroker, repoRoot, startBrokerProcess } from '../helpers/process.ts';
import { RawClient } from '../helpers/raw-client.ts';
import * as wire from '../helpers/packet-bytes.ts';
import { toHex } from '../helpers/packet-bytes.ts';
import { serverTls, startListenerBroker } from './listeners/listener-helpers.ts';

/** The certificate a TLS server presents on a new connection. */
function serverFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca }, () => {
      const certificate = socket.getPeerX509Certificate();
      socket.destroy();
      resolve(certificate?.fingerprint256 ?? '');
    });
    socket.on('error', reject);
  });
}

describe('certificate files broken before a reload', opensslSkip(), () => {
  let pki: TestPki;
  let first: CertificatePair;
  before(() => {
    pki = TestPki.create();
    first = pki.server('faults-first');
  });
  after(() => {
    pki.remove();
  });

  const breakages: readonly [string, (cert: string, key: string) => void][] = [
    [
      'replaced by garbage',
      (cert, key) => {
        writeFileSync(cert, 'not a certificate\n');
        writeFileSync(key, Buffer.from([0, 1, 2, 3, 0xff]));
      },
    ],
    [
      'deleted',
      (cert, key) => {
        unlinkSync(cert);
        unlinkSync(key);
      },
    ],
    [
      'the key deleted, the certificate truncated',
      (cert, key) => {
        writeFileSync(cert, readFileSync(cert).subarray(0, 100));
        unlinkSync(key);
      },
    ],
  ];

  for (const [name, breakFiles] of breakages) {
    test(`SIGHUP with the files ${name}: the old ones stay in use, the log says why`, async () => {
      const dir = TestPki.create();
      try {
        const certfile = join(dir.dir, 'live.crt');
        const keyfile = join(dir.dir, 'live.key');
        copyFileSync(first.cert, certfile);
        copyFileSync(first.key, keyfile);
        const running = await startListenerBroker({
          tls: serverTls({ cert: certfile, key: keyfile }),
        });
        try {
          const ca = pki.read(pki.caCert);
          const expected = new X509Certificate(pki.read(first.cert)).fingerprint256;
          breakFiles(certfile, keyfile);
          running.broker.reload(running.broker.config);
          assert.equal(
            running.lines().at(-1),
            `Error when reloading certificate '${certfile}' or key '${keyfile}'.`,
          );
          assert.equal(await serverFingerprint(running.port, ca), expected);
        } finally {
          await running.close();
        }
      } finally {
        dir.remove();
      }
    });
  }

  test('tls_reload_on_change with garbage files: the old ones stay in use, the log says why', async () => {
    const dir = TestPki.create();
    const saved = { ...certificateWatchTiming };
    Object.assign(certificateWatchTiming, { intervalMs: 20, settleMs: 40 });
    try {
      const certfile = join(dir.dir, 'live.crt');
      const keyfile = join(dir.dir, 'live.key');
      copyFileSync(first.cert, certfile);
      copyFileSync(first.key, keyfile);
      const running = await startListenerBroker({
        tls: serverTls({ cert: certfile, key: keyfile }, { reloadOnChange: true }),
      });
      try {
        const ca = pki.read(pki.caCert);
        const expected = new X509Certificate(pki.read(first.cert)).fingerprint256;
        writeFileSync(certfile, 'garbage');
        const line = `Error when reloading certificate '${certfile}' or key '${keyfile}'.`;
        await waitFor(() => running.lines().includes(line), 5000);
        assert.equal(await serverFingerprint(running.port, ca), expected);
        // Then deleted altogether: still the old ones, still serving.
        unlinkSync(certfile);
        unlinkSync(keyfile);
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(await serverFingerprint(running.port, ca), expected);
        assert.ok(!running.lines().some((l) => l.startsWith('TLS certificate files changed')));
      } finally {
        await running.close();
      }
    } finally {
      Object.assign(certificateWatchTiming, saved);
      dir.remove();
    }
  });
});

/** A round trip through a new client: the broker still serves. */
async function stillServes(port: number): Promise<void> {
  const client = await mqttConnect(`mqtt://127.0.0.1:${port}`, { clientId: `probe-${port}` });
  try {
    await client.client.subscribeAsync('probe/t', { qos: 1 });
    await client.client.publishAsync('probe/t', 'ok', { qos: 1 });
    await client.waitForMessages(1);
  } finally {
    await client.end();
  }
}

describe('SIGHUP with a config file that cannot be read', () => {
  const breakages: readonly [string, (path: string) => void][] = [
    [
      'deleted',
      (path) => {
        unlinkSync(path);
      },
    ],
    [
      'replaced by a directory',
      (path) => {
        unlinkSync(path);
        mkdirSync(path);
      },
    ],
    [
      'with an invalid line',
      (path) => {
        writeFileSync(path, `${readFileSync(path, 'utf8')}no_such_option 1\n`);
      },
    ],
  ];
  for (const [name, breakConfig] of breakages) {
    test(`config ${name}: the running configuration stays, the log says why`, async () => {
      const broker = await ourBroker.start({
        allowAnonymous: false,
        config: ['password_file {dir}/pw'],
        files: { pw: '' },
      });
      try {
        breakConfig(broker.configPath);
        broker.signal('SIGHUP');
        await waitFor(() => /Reloading config\./.test(broker.output()), 5000);
        await waitFor(
          () => /Error/.test(broker.output().split('Reloading config.')[1] ?? ''),
          5000,
        );
        assert.ok(!broker.exited, broker.output());
        // Still the old settings: anonymous clients are still refused (CVE-2017-7652).
        const raw = await RawClient.open(broker.port);
        raw.send(wire.connect({ clientId: 'anon' }));
        assert.equal(toHex(await raw.expectPacket()), '20 02 00 05');
        raw.destroy();
      } finally {
        if (name === 'replaced by a directory') rmSync(broker.configPath, { recursive: true });
        await broker.stop();
      }
    });
  }
});

/** CPU time (user + system, clock ticks) the process has used. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

describe('file descriptors exhausted', { skip: process.platform !== 'linux' }, () => {
  test('EMFILE on accept: extra connections fail, existing clients are served, no spin, recovery', async () => {
    const FD_LIMIT = 96;
    const broker: RunningBroker = await startBrokerProcess(
      {
        kind: 'ours',
        label: `ours (ulimit -n ${FD_LIMIT})`,
        command: 'prlimit',
        args: (configPath) => [
          `--nofile=${FD_LIMIT}:${FD_LIMIT}`,
          join(repoRoot, 'bin', 'mosquitto'),
          '-c',
          configPath,
        ],
      },
      { config: ['max_queued_messages 10'] },
    );
    const sockets: RawClient[] = [];
    try {
      const subscriber = await mqttConnect(`mqtt://127.0.0.1:${broker.port}`, {
        clientId: 'existing',
      });
      await subscriber.client.subscribeAsync('load/#', { qos: 1 });
      // Far more connections than the broker has descriptors: each is accepted by the
      // kernel (backlog) and then either served or closed by the broker.
      const opened = await Promise.allSettled(
        Array.from({ length: 2 * FD_LIMIT }, () => RawClient.open(broker.port, '127.0.0.1', 5000)),
      );
      for (const result of opened) if (result.status === 'fulfilled') sockets.push(result.value);
      for (const [i, socket] of sockets.entries()) {
        socket.send(wire.connect({ clientId: `flood-${i}` }));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      const answered = sockets.filter((s) => !s.isClosed).length;
      assert.ok(answered < FD_LIMIT, `${answered} connections kept with ${FD_LIMIT} fds`);

      // The broker process: alive, not spinning on accept().
      const brokerPid = broker.pid ?? 0;
      const ticksBefore = cpuTicks(brokerPid);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const ticks = cpuTicks(brokerPid) - ticksBefore;
      assert.ok(ticks < 50, `the broker used ${ticks} ticks of CPU in 1 s while saturated`);
      assert.ok(!broker.exited, broker.output());

      // The client connected before is served throughout.
      await subscriber.client.publishAsync('load/x', 'still here', { qos: 1 });
      await subscriber.waitForMessages(1, 5000);

      // Descriptors freed: new clients are accepted again.
      for (const socket of sockets) socket.destroy();
      sockets.length = 0;
      await new Promise((resolve) => setTimeout(resolve, 300));
      await stillServes(broker.port);
      await subscriber.end();
    } finally {
      for (const socket of sockets) socket.destroy();
      await broker.stop();
    }
  });
});

describe('SIGTERM during heavy traffic', () => {
  test('50 clients publishing QoS 1: a clean exit, and nothing acknowledged is lost across the restart', async () => {
    const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-faults-')));
    const lines = [
      'persistence true',
      `persistence_location ${dir}`,
      'autosave_interval 0',
      'max_queued_messages 0',
    ];
    let broker = await ourBroker.start({ config: lines });
    const acked = new Set<string>();
    try {
      const durable = {
        clientId: 'sink',
        clean: false,
        protocolVersion: 5 as const,
        properties: { sessionExpiryInterval: 3600 },
      };
      const sink = await mqttConnect(`mqtt://127.0.0.1:${broker.port}`, durable);
      await sink.client.subscribeAsync('load/#', { qos: 1 });
      await sink.end();

      const publishers = await Promise.all(
        Array.from({ length: 50 }, (_, n) =>
          mqttConnect(`mqtt://127.0.0.1:${broker.port}`, { clientId: `pub-${n}` }),
        ),
      );
      const run = { stop: false };
      const publishing = publishers.map(async (pub, n) => {
        pub.client.on('error', () => {});
        for (let i = 0; !run.stop; i++) {
          const payload = `${n}:${i}`;
          try {
            await pub.client.publishAsync(`load/${n}`, payload, { qos: 1 });
            acked.add(payload);
          } catch {
            return;
          }
        }
      });
      await waitFor(() => acked.size >= 2000, 20_000);
      broker.signal('SIGTERM');
      await waitFor(() => broker.exited, 10_000);
      run.stop = true;
      assert.equal(broker.exitCode, 0, broker.output());
      assert.match(broker.output(), /mosquitto version \S+ \(mosquitto-ts \S+\) terminating/);
      assert.doesNotMatch(broker.output(), /error/i);
      for (const pub of publishers) pub.client.end(true);
      void Promise.allSettled(publishing);
      const total = acked.size;

      broker = await ourBroker.start({ config: lines });
      const back = await mqttConnect(`mqtt://127.0.0.1:${broker.port}`, durable);
      await waitFor(() => {
        const got = new Set(back.received.map((m) => m.payload));
        return [...acked].every((p) => got.has(p));
      }, 20_000);
      assert.ok(total >= 2000);
      await back.end();
    } finally {
      await broker.stop();
      removeTempDir(dir);
    }
  });
});
