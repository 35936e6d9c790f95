/**
 * Debian's Chromium for the dashboard's browser test, driven by playwright-core. As with
 * Debian's mosquitto (helpers/mosquitto.ts): a missing browser skips the test on a
 * developer machine and fails it under CI=true, where .ci/run installs it.
 */
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { isCi } from './mosquitto.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_SKIP_MESSAGE = `chromium is not installed (apt-get install -y chromium)`;

/** True when Chromium is there; otherwise skips the test (returns false) or, in CI, throws. */
export function requireChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  if (isCi()) throw new Error(`${CHROMIUM_SKIP_MESSAGE} (CI=true: a failure, not a skip)`);
  t.skip(CHROMIUM_SKIP_MESSAGE);
  return false;
}
