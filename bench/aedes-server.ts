/**
 * Aedes (in-memory persistence, default options) on 127.0.0.1:<port>, in a process of its own,
 * so that bench/broker.ts can measure its CPU and RSS apart from the load generator's.
 *
 *   node dist/bench/aedes-server.js <port> [--tcp-nodelay]
 *
 * Prints "listening <port>" once the port accepts connections; SIGTERM closes it.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2]);
const noDelay = process.argv[3] === '--tcp-nodelay';
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('usage: node dist/bench/aedes-server.js <port> [--tcp-nodelay]\n');
  process.exit(2);
}

const broker = await Aedes.createBroker();
const server = createServer({ noDelay }, broker.handle);

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
