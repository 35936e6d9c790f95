/**
 * Waits longer than setTimeout's limit (2^31 - 1 ms, 24.8 days) in the tools: Node fires
 * such a timer after 1 ms, so `-W 3000000` (accepted by Mosquitto, up to INT_MAX seconds)
 * used to end mosquitto_sub and mosquitto_rr at once.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnTracked, terminate, waitForExit } from '../helpers/children.ts';
import { startTestBroker } from '../helpers/broker.ts';
import { repoRoot } from '../helpers/process.ts';

for (const [tool, extra] of [
  ['mosquitto_sub', ['-t', 'never']],
  ['mosquitto_rr', ['-t', 'request', '-e', 'never', '-m', 'x']],
] as const) {
  test(`${tool} -W 3000000 is still waiting after a second`, async () => {
    const broker = await startTestBroker();
    const child = spawnTracked(
      join(repoRoot, 'bin', tool),
      ['-p', String(broker.port), '-W', '3000000', ...extra],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const stderr: Buffer[] = [];
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    try {
      assert.equal(await waitForExit(child, 1500), false, 'exited before its timeout');
      assert.equal(Buffer.concat(stderr).toString('utf8'), '');
    } finally {
      await terminate(child, 500);
      await broker.close();
    }
  });
}
