/**
 * The soak by hand: `npm run soak -- --minutes 30`. Starts bin/mosquitto, runs mixed traffic
 * with clients coming and going (test/helpers/soak.ts), prints RSS and ping round trips as it
 * goes, and exits non-zero when RSS in the last third is more than 10% (and 8 MB) above the
 * middle third, or the probe's round trips there are more than 3x the middle third's.
 */
import { runSoak, windowMean } from '../test/helpers/soak.ts';

const MB = 1024 * 1024;
const at = process.argv.indexOf('--minutes');
const minutes = at >= 0 ? Number(process.argv[at + 1]) : 5;
if (!(minutes > 0))
  throw new Error(`--minutes needs a positive number, got ${process.argv[at + 1]}`);
const sampleMs = Math.max(1000, Math.round((minutes * 60_000) / 600));

console.log(`soak: ${minutes} min, a sample every ${sampleMs} ms`);
const report = await runSoak(minutes * 60_000, sampleMs);
for (const s of report.samples.filter((_, i) => i % 10 === 0)) {
  console.log(
    `${s.atSeconds.toFixed(0).padStart(6)} s  RSS ${(s.rssBytes / MB).toFixed(1)} MB  ping ${s.pingMs.toFixed(2)} ms`,
  );
}
const rssMiddle = windowMean(report.samples, 1 / 3, 2 / 3, 'rssBytes');
const rssLast = windowMean(report.samples, 2 / 3, 1, 'rssBytes');
const pingMiddle = windowMean(report.samples, 1 / 3, 2 / 3, 'pingMs');
const pingLast = windowMean(report.samples, 2 / 3, 1, 'pingMs');
console.log(
  `published ${report.published}, received ${report.received}, connections ${report.churn}; ` +
    `RSS middle ${(rssMiddle / MB).toFixed(1)} MB, last ${(rssLast / MB).toFixed(1)} MB; ` +
    `ping middle ${pingMiddle.toFixed(2)} ms, last ${pingLast.toFixed(2)} ms`,
);
const rssGrew = rssLast - rssMiddle > Math.max(8 * MB, rssMiddle * 0.1);
const pingGrew = pingLast > Math.max(3 * pingMiddle, 5);
if (rssGrew || pingGrew) {
  console.error(`soak FAILED: ${rssGrew ? 'RSS grew' : ''} ${pingGrew ? 'latency grew' : ''}`);
  process.exit(1);
}
console.log('soak passed: RSS and latency flat');
