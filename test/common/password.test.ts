import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CHEAP_PBKDF2_ITERATIONS,
  HashType,
  formatPasswordHash,
  hashPassword,
  parsePasswordHash,
  verifyPassword,
} from '../../src/common/password.ts';

// Written by Debian's mosquitto_passwd 2.0.11 (`-b` with password "secret" / "y").
const MOSQUITTO_PBKDF2 =
  '$7$101$J9pil6q6oOMbtpsh$XpW1VUHQrT/e7GQYwrjgpJde5UC6F9/SsqrF/nRnQrn0LUSJRZlYul8Rktr0S6BitXkV6TWpVsioQSYebHu+pQ==';
const MOSQUITTO_SHA512 =
  '$6$ysBZEmxO6cOYRFcs$kSwpvSacyY71G5DdNVEf+Xs/ze3imQSZlJlK9q5c9vyAbuaio8gFXbACr8Y+DasHPRbPo/6bIJxn97GSiqPP9Q==';

test('verifies hashes written by Mosquitto', async () => {
  const pbkdf2 = parsePasswordHash(MOSQUITTO_PBKDF2);
  assert.equal(pbkdf2.type, HashType.Sha512Pbkdf2);
  assert.equal(pbkdf2.iterations, 101);
  assert.equal(await verifyPassword(Buffer.from('secret'), pbkdf2), true);
  assert.equal(await verifyPassword(Buffer.from('Secret'), pbkdf2), false);
  const sha = parsePasswordHash(MOSQUITTO_SHA512);
  assert.equal(sha.type, HashType.Sha512);
  assert.equal(await verifyPassword(Buffer.from('y'), sha), true);
  assert.equal(await verifyPassword(Buffer.from('x'), sha), false);
});

test('cheap hashes are checked at once, expensive PBKDF2 ones on the thread pool', async () => {
  // 2.0's default (101) and $6$: a plain boolean, no promise.
  const cheap = parsePasswordHash(MOSQUITTO_PBKDF2);
  assert.ok(cheap.iterations <= CHEAP_PBKDF2_ITERATIONS);
  assert.equal(verifyPassword(Buffer.from('secret'), cheap), true);
  assert.equal(verifyPassword(Buffer.from('Secret'), cheap), false);
  assert.equal(verifyPassword(Buffer.from('y'), parsePasswordHash(MOSQUITTO_SHA512)), true);
  // 2.1's default (1000) and above: off the event loop.
  const dear = hashPassword('pw', HashType.Sha512Pbkdf2, 1000);
  const right = verifyPassword(Buffer.from('pw'), dear);
  const wrong = verifyPassword(Buffer.from('px'), dear);
  assert.ok(right instanceof Promise);
  assert.ok(wrong instanceof Promise);
  assert.equal(await right, true);
  assert.equal(await wrong, false);
});

test('formats back to the same text', () => {
  assert.equal(formatPasswordHash(parsePasswordHash(MOSQUITTO_PBKDF2)), MOSQUITTO_PBKDF2);
  assert.equal(formatPasswordHash(parsePasswordHash(MOSQUITTO_SHA512)), MOSQUITTO_SHA512);
});

test('new hashes have Mosquitto 2.0 shape and verify', async () => {
  const text = formatPasswordHash(hashPassword('pw'));
  assert.match(text, /^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
  assert.equal(await verifyPassword(Buffer.from('pw'), parsePasswordHash(text)), true);
  const legacy = formatPasswordHash(hashPassword('pw', HashType.Sha512));
  assert.match(legacy, /^\$6\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
  const custom = hashPassword('pw', HashType.Sha512Pbkdf2, 1000);
  assert.equal(custom.iterations, 1000);
});

test('rejects malformed hashes', () => {
  for (const bad of [
    'plain',
    '$5$abc$def',
    '$7$0$J9pil6q6oOMbtpsh$XpW1',
    '$7$101$short$XpW1VUHQ',
    '$6$ysBZEmxO6cOYRFcs$tooShort==',
  ]) {
    assert.throws(() => parsePasswordHash(bad), { name: 'PasswordHashError' }, bad);
  }
});

test("our hashes verify with Debian's mosquitto_passwd tooling (file round trip)", (t) => {
  if (!existsSync('/usr/bin/mosquitto_passwd')) {
    if (process.env.CI === 'true') assert.fail('mosquitto_passwd missing under CI');
    t.skip("needs Debian's Mosquitto: apt-get install -y mosquitto mosquitto-clients");
    return;
  }
  // Mosquitto's tool rewrites a file it can parse; a file with our line must survive an update
  // of another user byte for byte.
  const dir = mkdtempSync(join(tmpdir(), 'mqts-pw-'));
  const file = join(dir, 'passwd');
  const ours = `alice:${formatPasswordHash(hashPassword('a'))}\n`;
  execFileSync('sh', ['-c', `printf '%s' "$1" > "$2"`, 'sh', ours, file]);
  execFileSync('/usr/bin/mosquitto_passwd', ['-b', file, 'bob', 'b']);
  const lines = readFileSync(file, 'utf8').split('\n');
  assert.equal(`${lines[0] ?? ''}\n`, ours);
  assert.match(lines[1] ?? '', /^bob:\$7\$101\$/);
});
