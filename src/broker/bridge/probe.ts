/**
 * A TCP connection attempt that is closed as soon as it succeeds: how a bridge on a
 * secondary address learns that its primary answers again (bridge_check()).
 */
import net from 'node:net';

export function probeTcp(host: string, port: number, bindAddress: string | null): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({
      host,
      port,
      ...(bindAddress === null ? {} : { localAddress: bindAddress }),
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
