/**
 * The live message view: a Server-Sent Events stream of the messages published on a
 * topic filter, each checked against the ACL as the logged-in user would be for a
 * subscription (read access). Bounded: while the browser has not read 64 KiB already
 * sent, further messages are dropped and counted, not buffered.
 */
import type { ServerResponse } from 'node:http';
import { isValidTopicFilter, topicMatches } from '../../protocol/topic.ts';
import type { ListenerConfig } from '../config/types.ts';
import type { PluginClient } from '../plugins/api.ts';
import type { DashboardHost, DashboardMessage } from './host.ts';

const MAX_UNSENT_BYTES = 64 * 1024;
/** Payload bytes shown per message at most. */
const MAX_PAYLOAD_SHOWN = 2048;
const HEARTBEAT_MS = 15_000;

/** Why a filter cannot be watched (null: it can). */
export function liveFilterProblem(filter: string): string | null {
  if (filter === '') return 'a topic filter is needed';
  if (!isValidTopicFilter(filter)) return `"${filter}" is not a valid topic filter`;
  if (filter.startsWith('$share/')) return 'shared subscriptions cannot be watched';
  return null;
}

function payloadText(payload: Buffer): { text: string; binary: boolean; truncated: boolean } {
  const shown = payload.subarray(0, MAX_PAYLOAD_SHOWN);
  const truncated = payload.length > MAX_PAYLOAD_SHOWN;
  const text = shown.toString('utf8');
  // Replacement characters mean it was not UTF-8: show hex instead.
  if (text.includes('\uFFFD')) return { text: shown.toString('hex'), binary: true, truncated };
  return { text, binary: false, truncated };
}

export interface LiveViewer {
  readonly listener: ListenerConfig;
  readonly client: PluginClient;
}

/** Streams matching messages to `response` until the browser goes away. */
export function streamMessages(
  host: DashboardHost,
  filter: string,
  viewer: LiveViewer,
  response: ServerResponse,
): void {
  response.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Accel-Buffering': 'no',
  });
  response.write(`: watching ${filter.replace(/[\r\n]/g, ' ')}\n\n`);
  let dropped = 0;
  let closed = false;
  const send = (event: object): void => {
    if (closed) return;
    if (response.writableLength > MAX_UNSENT_BYTES) {
      dropped++;
      return;
    }
    response.write(`data: ${JSON.stringify({ ...event, dropped })}\n\n`);
  };
  const onMessage = (message: DashboardMessage): void => {
    if (!topicMatches(filter, message.topic)) return;
    const at = Date.now();
    void host.security
      .clientMayRead(viewer.listener, viewer.client, message.topic)
      .then((allowed) => {
        if (!allowed) return;
        send({
          at,
          topic: message.topic,
          qos: message.qos,
          retain: message.retain,
          clientId: message.clientId,
          bytes: message.payload.length,
          ...payloadText(message.payload),
        });
      });
  };
  host.on('messagePublished', onMessage);
  const heartbeat = setInterval(() => {
    if (!closed) response.write(': heartbeat\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();
  response.on('close', () => {
    closed = true;
    clearInterval(heartbeat);
    host.off('messagePublished', onMessage);
  });
}
