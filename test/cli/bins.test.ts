/**
 * The commands in bin/ as a user runs them, through their shebang lines: each drops
 * NODE_EXTRA_CA_CERTS before Node starts (it costs 50-80 ms of start-up, README "Start-up
 * time of the tools"). Node warns at start-up about an extra-certs file it cannot load,
 * so a missing file in that variable shows whether Node still saw it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/process.ts';

const env = { ...process.env, NODE_EXTRA_CA_CERTS: '/nonexistent/extra-ca.pem' };
const NODE_WARNING = /Ignoring extra certs from/;

test('control: Node itself warns about the unloadable extra-certs file', () => {
  const result = spawnSync(process.execPath, ['-e', '0'], { env, encoding: 'utf8' });
  assert.match(result.stderr, NODE_WARNING);
});

const commands: readonly (readonly [string, readonly string[], number])[] = [
  ['mosquitto', ['-h'], 0], // 0 since 2.0.22 (Debian's 2.0.11 exits 3)
  ['mosquitto_pub', ['--help'], 1],
  ['mosquitto_sub', ['--help'], 1],
  ['mosquitto_rr', ['--help'], 1],
  ['mosquitto_passwd', ['--help'], 1],
  ['mosquitto_ctrl', [], 1],
  ['mosquitto_db_dump', [], 1],
];

for (const [command, args, expectedCode] of commands) {
  test(`bin/${command} ${args.join(' ')}: runs without Node seeing NODE_EXTRA_CA_CERTS`, () => {
    const result = spawnSync(join(repoRoot, 'bin', command), args, { env, encoding: 'utf8' });
    assert.equal(result.error, undefined);
    assert.doesNotMatch(result.stderr, NODE_WARNING);
    assert.equal(result.status, expectedCode, result.stderr);
    assert.ok(result.stdout.length + result.stderr.length > 0, 'printed nothing');
  });
}

test('package.json installs every command (npm install -g .)', () => {
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  assert.deepEqual(Object.keys(manifest.bin).sort(), commands.map(([command]) => command).sort());
  for (const [command, path] of Object.entries(manifest.bin)) {
    assert.equal(path, `bin/${command}`);
  }
});
