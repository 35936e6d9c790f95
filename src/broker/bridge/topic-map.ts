/**
 * A bridge's `topic` lines as the filters it subscribes with on each side and the
 * prefix remapping between them (bridge_topic.c, and the remapping in handle_publish.c
 * and send_publish.c). `topic <pattern> <dir> <qos> <local-prefix> <remote-prefix>`
 * means: locally the pattern lives under local-prefix, remotely under remote-prefix; an
 * empty pattern (`""`) maps one topic to another.
 */
import type { QoS } from '../../protocol/constants.ts';
import { topicMatches } from '../../protocol/topic.ts';
import type { BridgeTopic } from '../config/types.ts';

export interface MappedTopic {
  readonly direction: 'in' | 'out' | 'both';
  readonly qos: QoS;
  readonly localPrefix: string | null;
  readonly remotePrefix: string | null;
  /** The filter on our side: local-prefix + pattern. */
  readonly localTopic: string;
  /** The filter on the remote: remote-prefix + pattern. */
  readonly remoteTopic: string;
}

export class BridgeTopicMap {
  readonly topics: readonly MappedTopic[];
  /** Some line has a prefix: topics may change on the way (otherwise they never do). */
  readonly remapping: boolean;
  readonly #inbound: readonly MappedTopic[];
  readonly #outbound: readonly MappedTopic[];

  constructor(lines: readonly BridgeTopic[]) {
    this.topics = lines.map((line) => ({
      direction: line.direction,
      qos: line.qos,
      localPrefix: line.localPrefix,
      remotePrefix: line.remotePrefix,
      localTopic: (line.localPrefix ?? '') + (line.pattern ?? ''),
      remoteTopic: (line.remotePrefix ?? '') + (line.pattern ?? ''),
    }));
    const prefixed = this.topics.filter((t) => t.localPrefix !== null || t.remotePrefix !== null);
    this.remapping = prefixed.length > 0;
    this.#inbound = prefixed.filter((t) => t.direction !== 'out');
    this.#outbound = prefixed.filter((t) => t.direction !== 'in');
  }

  /**
   * A topic published by the remote, as published here: the first `in`/`both` line whose
   * remote filter matches loses its remote prefix and gains its local one. A topic no
   * line matches is kept as it is.
   */
  toLocal(topic: string): string {
    for (const line of this.#inbound) {
      if (!topicMatches(line.remoteTopic, topic)) continue;
      return swapPrefix(topic, line.remotePrefix, line.localPrefix);
    }
    return topic;
  }

  /** A local topic as sent to the remote (the mirror of toLocal for `out`/`both` lines). */
  toRemote(topic: string): string {
    for (const line of this.#outbound) {
      if (!topicMatches(line.localTopic, topic)) continue;
      return swapPrefix(topic, line.localPrefix, line.remotePrefix);
    }
    return topic;
  }
}

function swapPrefix(topic: string, from: string | null, to: string | null): string {
  let rest = topic;
  if (from !== null && rest.startsWith(from)) rest = rest.slice(from.length);
  return to === null ? rest : to + rest;
}
