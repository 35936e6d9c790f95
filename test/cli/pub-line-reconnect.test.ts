/**
 * mosquitto_pub -l keeps its connection as libmosquitto's threaded loop does: when the
 * broker goes away it retries every second while reading stdin on, and QoS 1 lines read
 * meanwhile reach the broker once it is back. Ours and Debian's tool, the same steps; a
 * refused reconnection ends the tool as a refused first connection would.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { PublishedMessageInfo } from '../../src/broker/broker.ts';
import { spawnTracked, terminate, waitForExit } from '../helpers/children.ts';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { defaultSecurity } from '../../src/broker/config/types.ts';
import { mosquittoSkip, requiredPath } from '../helpers/mosquitto.ts';
import { repoRoot } from '../helpers/process.ts';

type Implementation = 'ours' | 'real';

function spawnPub(implementation: Implementation, args: readonly string[]): ChildProcess {
  const command =
    implementation === 'ours'
      ? join(repoRoot, 'bin', 'mosquitto_pub')
      : requiredPath('mosquitto_pub');
  return spawnTracked(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Resolves with the next message the broker accepts on `topic`. */
function nextMessage(broker: TestBroker, topic: string, timeoutMs = 8000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      broker.broker.off('messagePublished', onMessage);
      reject(new Error(`no message on ${topic} within ${String(timeoutMs)} ms`));
    }, timeoutMs);
    const onMessage = (message: PublishedMessageInfo): void => {
      if (message.topic !== topic) return;
      clearTimeout(timer);
      broker.broker.off('messagePublished', onMessage);
      resolve(Buffer.from(message.payload).toString('utf8'));
    };
    broker.broker.on('messagePublished', onMessage);
  });
}

function collect(stream: NodeJS.ReadableStream | null): () => string {
  const chunks: Buffer[] = [];
  stream?.on('data', (chunk: Buffer) => chunks.push(chunk));
  return () => Buffer.concat(chunks).toString('utf8');
}

for (const implementation of ['ours', 'real'] as const) {
  describe(
    `${implementation} mosquitto_pub -l across a broker restart`,
    implementation === 'real' ? mosquittoSkip(['mosquitto_pub']) : {},
    () => {
      test('QoS 1 lines written while the broker is down arrive once it is back', async () => {
        let broker = await startTestBroker();
        const port = broker.port;
        const child = spawnPub(implementation, [
          '-p',
          String(port),
          '-t',
          'lines',
          '-l',
          '-q',
          '1',
        ]);
        const stderr = collect(child.stderr);
        try {
          const first = nextMessage(broker, 'lines');
          child.stdin?.write('one\n');
          assert.equal(await first, 'one');

          await broker.close();
          // The tool notices at once (the broker closed the socket) and retries each second.
          await new Promise((resolve) => setTimeout(resolve, 200));
          child.stdin?.write('two\n');
          broker = await startTestBroker({ listener: { port } });
          assert.equal(await nextMessage(broker, 'lines'), 'two');

          const third = nextMessage(broker, 'lines');
          child.stdin?.write('three\n');
          assert.equal(await third, 'three');
          child.stdin?.end();
          assert.ok(await waitForExit(child, 8000), 'still running after stdin ended');
          assert.equal(child.exitCode, 0, stderr());
          assert.equal(stderr(), '');
        } finally {
          await terminate(child, 500);
          await broker.close();
        }
      });

      for (const [version, code, refusal] of [
        ['311', 5, 'Connection error: Connection Refused: not authorised.\n'],
        ['5', 135, 'Connection error: Not authorized\n'],
      ] as const) {
        test(`-V ${version}: a refused reconnection ends it with the refusal`, async () => {
          let broker = await startTestBroker();
          const port = broker.port;
          const child = spawnPub(implementation, [
            '-p',
            String(port),
            '-t',
            'lines',
            '-l',
            '-V',
            version,
          ]);
          child.stdin?.on('error', () => undefined);
          const stderr = collect(child.stderr);
          try {
            const first = nextMessage(broker, 'lines');
            child.stdin?.write('one\n');
            assert.equal(await first, 'one');
            await broker.close();
            // Back, but refusing anonymous clients.
            broker = await startTestBroker({
              config: { security: defaultSecurity(false) },
              listener: { port, security: defaultSecurity(false) },
            });
            // Ours ends as soon as the reconnection is refused. Debian's only looks at the
            // refusal once its blocking read of stdin returns, so it needs another line.
            if (implementation === 'real') {
              await new Promise((resolve) => setTimeout(resolve, 1500));
              child.stdin?.write('two\n');
            }
            assert.ok(await waitForExit(child, 8000), `still running: ${stderr()}`);
            assert.equal(child.exitCode, code, stderr());
            // Debian's prints the refusal once per retry (every second) until it ends.
            const lines = stderr();
            assert.ok(lines.startsWith(refusal), lines);
            assert.equal(lines.replaceAll(refusal, ''), 'Error: The connection was refused.\n');
            if (implementation === 'ours')
              assert.equal(lines, `${refusal}Error: The connection was refused.\n`);
          } finally {
            await terminate(child, 500);
            await broker.close();
          }
        });
      }
    },
  );
}
