/**
 * The socket file of a unix listener: a stale socket is removed before binding, anything
 * else at that path is left for bind() to report, and the file gets mode 0770.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamListener } from '../../src/transport/tcp.ts';
import { removeStaleSocket, restrictSocketMode } from '../../src/transport/unix.ts';
import { removeTempDir, trackTempDir } from '../helpers/children.ts';

describe('unix socket files', () => {
  let dir: string;
  before(() => {
    dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-unix-')));
  });
  after(() => {
    removeTempDir(dir);
  });

  test('a regular file is not removed', () => {
    const path = join(dir, 'not-a-socket');
    writeFileSync(path, 'data');
    removeStaleSocket(path);
    assert.ok(existsSync(path));
    removeStaleSocket(join(dir, 'nothing-here'));
  });

  test('mode 0770 whatever the umask; the file goes when the listener closes', async () => {
    const path = join(dir, 'mode.sock');
    const listener = new StreamListener({ port: 0, host: null, path, noDelay: false }, () => {
      // No clients in this test.
    });
    await listener.listen();
    restrictSocketMode(path);
    assert.equal(statSync(path).mode & 0o777, 0o770);
    await listener.close();
    assert.equal(existsSync(path), false);
  });
});
