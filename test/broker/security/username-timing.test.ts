/**
 * Usernames cannot be found by timing: an unknown username is refused only after as much
 * hashing as a wrong password costs (a decoy hash with the first user's parameters), for
 * the password file and for dynamic security. The hashes here use 20,000 PBKDF2
 * iterations (~15 ms) so that skipping the hash would show plainly; Mosquitto 2.0.22
 * skips it (DEVIATIONS).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HashType, formatPasswordHash, hashPassword } from '../../../src/common/password.ts';
import { defaultSecurity } from '../../../src/broker/config/types.ts';
import type { TestBroker } from '../../helpers/broker.ts';
import { startTestBroker } from '../../helpers/broker.ts';
import { passwordEntry, startSecureBroker, tempDir } from './fixtures.ts';

const ITERATIONS = 20_000;
const ATTEMPTS = 15;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * CONNECT to CONNACK times of a wrong password for a known user and of an unknown user,
 * taken in turn so that machine load weighs on both alike. Both must be refused.
 */
async function refusalTimes(
  broker: TestBroker,
  refusedCode: string,
): Promise<{ known: number; unknown: number }> {
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < ATTEMPTS; i++) {
    for (const [username, times] of [
      ['alice', known],
      [`nobody-${String(i)}`, unknown],
    ] as const) {
      const start = performance.now();
      const { client, connack } = await broker.rawConnect({
        clientId: `c${String(i)}`,
        username,
        password: 'wrong password',
      });
      times.push(performance.now() - start);
      client.destroy();
      assert.equal(connack.toString('hex'), refusedCode);
    }
  }
  return { known: median(known), unknown: median(unknown) };
}

function assertAlike(times: { known: number; unknown: number }): void {
  const message = `median refusal: unknown user ${times.unknown.toFixed(2)} ms, wrong password ${times.known.toFixed(2)} ms`;
  // Without the decoy an unknown user is refused ~30x faster (0.5 ms against 15 ms); the
  // bound leaves room for a loaded 2-core CI machine, where medians of 15 swing by ~1.5x.
  assert.ok(times.unknown >= 0.4 * times.known, message);
  assert.ok(times.known >= 0.4 * times.unknown, message);
}

describe('refusals take as long for unknown usernames as for wrong passwords', () => {
  test('password_file', async () => {
    const dir = tempDir();
    const passwordFile = dir.write(
      'pw',
      `${passwordEntry('alice', 'secret', HashType.Sha512Pbkdf2, ITERATIONS)}\n`,
    );
    const broker = await startSecureBroker({ security: { passwordFile } });
    try {
      assertAlike(await refusalTimes(broker, '20020005'));
    } finally {
      await broker.close();
      dir.remove();
    }
  });

  test('dynamic security', async () => {
    const dir = tempDir('dynsec');
    const encoded = formatPasswordHash(hashPassword('secret', HashType.Sha512Pbkdf2, ITERATIONS));
    const configFile = dir.write(
      'dynsec.json',
      JSON.stringify({
        clients: [{ username: 'alice', encoded_password: encoded, roles: [] }],
        groups: [],
        roles: [],
      }),
    );
    const broker = await startTestBroker({
      config: {
        security: {
          ...defaultSecurity(false),
          plugins: [
            {
              path: '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
              options: [['config_file', configFile]],
              denySpecialChars: true,
            },
          ],
        },
      },
    });
    try {
      assertAlike(await refusalTimes(broker, '20020005'));
    } finally {
      await broker.close();
      dir.remove();
    }
  });
});
