/**
 * Aedes (in-memory persistence, default options) on 127.0.0.1:<port>, in a process of its own,
 * so that bench/broker.ts can measure its CPU and RSS apart from the load generator's.
 *
 *   node dist/bench/aedes-server.js <port> [--tcp-nodelay] [--tls <cert> <key> <1.2|1.3>]
 *
 * --tls: a TLS listener of exactly that version (node:tls) instead of plain TCP.
 *
 * Prints "listening <port>" once the port accepts connections; SIGTERM closes it.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes } from 'aedes';

const args = process.argv.slice(2);
const port = Number(args[0]);
const noDelay = args.includes('--tcp-nodelay');
const tlsAt = args.indexOf('--tls');
const tls =
  tlsAt < 0 ? null : { cert: args[tlsAt + 1], key: args[tlsAt + 2], version: args[tlsAt + 3] };
if (
  !Number.isInteger(port) ||
  port < 1 ||
  port > 65535 ||
  (tls !== null && (tls.cert === undefined || tls.key === undefined || tls.version === undefined))
) {
  process.stderr.write(
    'usage: node dist/bench/aedes-server.js <port> [--tcp-nodelay] [--tls <cert> <key> <1.2|1.3>]\n',
  );
  process.exit(2);
}

const broker = await Aedes.createBroker();
const version = tls?.version === '1.3' ? 'TLSv1.3' : 'TLSv1.2';
const server =
  tls === null
    ? createServer({ noDelay }, broker.handle)
    : createTlsServer(
        {
          noDelay,
          cert: readFileSync(tls.cert ?? ''),
          key: readFileSync(tls.key ?? ''),
          minVersion: version,
          maxVersion: version,
        },
        broker.handle,
      );

server.on('error', (error: Error) => {
  process.stderr.write(`aedes-server: ${error.message}\n`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${String(port)}\n`);
});

process.on('SIGTERM', () => {
  server.close();
  broker.close(() => {
    process.exit(0);
  });
});
