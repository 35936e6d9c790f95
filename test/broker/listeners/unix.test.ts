/**
 * Unix socket listeners (`listener 0 <path>`): MQTT.js and Debian's tools over the
 * socket, Mosquitto's file handling (a stale socket replaced, mode 0770, removed on
 * shutdown), and TLS or WebSockets over a unix socket.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import type { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTempDir, trackTempDir } from '../../helpers/children.ts';
import { runCommand } from '../../helpers/command.ts';
import { mosquittoSkip, requiredPath } from '../../helpers/mosquitto.ts';
import { TestPki, opensslSkip } from '../../helpers/certs.ts';
import { connect } from '../../helpers/packet-bytes.ts';
import { connectOrFail, roundTrip, serverTls, startListenerBroker } from './listener-helpers.ts';

describe('unix socket listeners', () => {
  let dir: string;
  before(() => {
    dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-unix-')));
  });
  after(() => {
    removeTempDir(dir);
  });

  const unixListener = (
    name: string,
  ): { port: number; unixSocketPath: string; bindAddress: null } => ({
    port: 0,
    unixSocketPath: join(dir, name),
    bindAddress: null,
  });

  test('MQTT.js over the socket; mode 0770; the file is removed on shutdown', async () => {
    const listener = unixListener('broker.sock');
    const running = await startListenerBroker(listener);
    const path = listener.unixSocketPath;
    try {
      assert.ok(running.lines().includes(`Opening unix listen socket on path ${path}.`));
      assert.equal(statSync(path).mode & 0o777, 0o770);
      const sub = await connectOrFail(`mqtt+unix://${path}`);
      const pub = await connectOrFail(`mqtt+unix://${path}`);
      assert.equal(await roundTrip(sub, pub, 'unix/t', 'local'), 'local');
      await Promise.all([sub.endAsync(), pub.endAsync()]);
      assert.ok(
        running.lines().some((l) => l.startsWith(`New client connected from ${path}`)),
        running.lines().join('\n'),
      );
    } finally {
      await running.close();
    }
    assert.equal(existsSync(path), false);
  });

  test('a socket file left by a crashed broker is replaced', async () => {
    const listener = unixListener('stale.sock');
    // A socket file nobody listens on any more: its process was killed with SIGKILL.
    const script = `require('net').createServer().listen(${JSON.stringify(listener.unixSocketPath)}, () => process.kill(process.pid, 'SIGKILL'))`;
    spawnSync(process.execPath, ['-e', script]);
    assert.ok(existsSync(listener.unixSocketPath));
    const running = await startListenerBroker(listener);
    try {
      const client = await connectOrFail(`mqtt+unix://${listener.unixSocketPath}`);
      await client.endAsync();
    } finally {
      await running.close();
    }
  });

  test("Debian's mosquitto_pub --unix", mosquittoSkip(['mosquitto_pub']), async () => {
    const listener = unixListener('tools.sock');
    const running = await startListenerBroker(listener);
    try {
      const result = await runCommand(requiredPath('mosquitto_pub'), [
        ...['--unix', listener.unixSocketPath, '-t', 'unix/t', '-m', 'x', '-d'],
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /received CONNACK \(0\)/);
    } finally {
      await running.close();
    }
  });

  test('TLS over a unix socket', opensslSkip(), async () => {
    const pki = TestPki.create();
    const listener = unixListener('tls.sock');
    const running = await startListenerBroker({ ...listener, tls: serverTls(pki.server()) });
    try {
      const socket = tls.connect({
        path: listener.unixSocketPath,
        ca: pki.read(pki.caCert),
        servername: 'localhost',
      });
      socket.write(connect({ clientId: 'tls-over-unix' }));
      const connack = await new Promise<Buffer>((resolve, reject) => {
        socket.once('data', resolve);
        socket.once('error', reject);
      });
      assert.equal(connack.toString('hex'), '20020000');
      socket.destroy();
    } finally {
      await running.close();
      pki.remove();
    }
  });
});
