/**
 * A short soak (test/helpers/soak.ts; the long one is `npm run soak -- --minutes 30`):
 * 12 s of mixed traffic with clients coming and going against bin/mosquitto. RSS in the
 * last third may not exceed the middle third by more than 15% (16 MB at least: V8 is
 * still sizing its heap this early, swinging RSS by ~10 MB; a leak of 5 KB per connection
 * at this churn, ~3,000 connections, still fails), and the probe's ping round trips stay
 * within 3x (5 ms at least) of the middle third's. The long soak holds 10% / 8 MB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MB } from '../helpers/memory.ts';
import { runSoak, windowMean } from '../helpers/soak.ts';

test('a short soak of mixed traffic keeps RSS and latency flat', async (t) => {
  const report = await runSoak(12_000, 400);
  const rssMiddle = windowMean(report.samples, 1 / 3, 2 / 3, 'rssBytes');
  const rssLast = windowMean(report.samples, 2 / 3, 1, 'rssBytes');
  const pingMiddle = windowMean(report.samples, 1 / 3, 2 / 3, 'pingMs');
  const pingLast = windowMean(report.samples, 2 / 3, 1, 'pingMs');
  t.diagnostic(
    `published ${report.published}, received ${report.received}, churn ${report.churn}; RSS MB ` +
      `middle ${(rssMiddle / MB).toFixed(1)} last ${(rssLast / MB).toFixed(1)}; ping ms middle ` +
      `${pingMiddle.toFixed(2)} last ${pingLast.toFixed(2)}`,
  );
  assert.ok(report.published > 500 && report.received > 500, 'too little traffic');
  assert.ok(report.churn > 50, 'too few clients came and went');
  assert.ok(
    rssLast - rssMiddle < Math.max(16 * MB, rssMiddle * 0.15),
    `RSS grew from ${(rssMiddle / MB).toFixed(1)} to ${(rssLast / MB).toFixed(1)} MB`,
  );
  assert.ok(
    pingLast < Math.max(3 * pingMiddle, 5),
    `ping round trips grew from ${pingMiddle.toFixed(2)} to ${pingLast.toFixed(2)} ms`,
  );
});
