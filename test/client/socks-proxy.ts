/**
 * A minimal SOCKS5 server for tests (RFC 1928/1929): CONNECT only, "no authentication"
 * or username/password, then bytes relayed both ways. It records what clients offered.
 */
import { Buffer } from 'node:buffer';
import { createServer, connect as netConnect, type Server } from 'node:net';

export interface SocksProxy {
  readonly port: number;
  /** The authentication methods each client offered. */
  readonly methods: number[][];
  readonly credentials: string[];
  readonly targets: string[];
  close(): Promise<void>;
}

/** A minimal SOCKS5 server (RFC 1928/1929): CONNECT only, relays bytes both ways. */
export async function startSocksProxy(): Promise<SocksProxy> {
  const methods: number[][] = [];
  const credentials: string[] = [];
  const targets: string[] = [];
  const server: Server = createServer((socket) => {
    let buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' | 'relay' = 'greeting';
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      if (stage === 'greeting' && buffer.length >= 2 && buffer.length >= 2 + (buffer[1] ?? 0)) {
        const offered = [...buffer.subarray(2, 2 + (buffer[1] ?? 0))];
        methods.push(offered);
        buffer = buffer.subarray(2 + offered.length);
        const chosen = offered.includes(2) ? 2 : 0;
        socket.write(Buffer.from([5, chosen]));
        stage = chosen === 2 ? 'auth' : 'request';
      }
      if (stage === 'auth' && buffer.length >= 2) {
        const userLength = buffer[1] ?? 0;
        if (buffer.length < 3 + userLength) return;
        const passLength = buffer[2 + userLength] ?? 0;
        if (buffer.length < 3 + userLength + passLength) return;
        const user = buffer.subarray(2, 2 + userLength).toString();
        const pass = buffer.subarray(3 + userLength, 3 + userLength + passLength).toString();
        credentials.push(`${user}:${pass}`);
        buffer = buffer.subarray(3 + userLength + passLength);
        socket.write(Buffer.from([1, 0]));
        stage = 'request';
      }
      if (stage === 'request' && buffer.length >= 5) {
        const type = buffer[3];
        let host: string;
        let offset: number;
        if (type === 1) {
          host = [...buffer.subarray(4, 8)].join('.');
          offset = 8;
        } else if (type === 3) {
          const length = buffer[4] ?? 0;
          if (buffer.length < 5 + length + 2) return;
          host = buffer.subarray(5, 5 + length).toString();
          offset = 5 + length;
        } else {
          socket.destroy();
          return;
        }
        if (buffer.length < offset + 2) return;
        const port = buffer.readUInt16BE(offset);
        buffer = buffer.subarray(offset + 2);
        targets.push(`${host}:${port}`);
        stage = 'relay';
        socket.off('data', onData);
        const upstream = netConnect(
          { host: host === 'localhost' ? '127.0.0.1' : host, port },
          () => {
            socket.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
            if (buffer.length > 0) upstream.write(buffer);
            socket.pipe(upstream);
            upstream.pipe(socket);
          },
        );
        upstream.on('error', () => socket.destroy());
        socket.on('error', () => upstream.destroy());
        socket.on('close', () => upstream.destroy());
      }
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    methods,
    credentials,
    targets,
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}
