/**
 * What the overview's charts and the topics page's rates are made of: one sample per
 * second of the broker's PUBLISH counters, kept for an hour in a ring, and per-topic
 * message counts over the last ten seconds.
 */

/** One second's worth: PUBLISH packets in and out, and clients connected then. */
export interface RateSample {
  /** Wall-clock milliseconds at the end of the second. */
  readonly at: number;
  readonly in: number;
  readonly out: number;
  readonly clients: number;
}

export const HISTORY_SECONDS = 3600;
const TOPIC_WINDOW_SECONDS = 10;
/** Topics counted per second at most, so a flood of distinct topics cannot grow memory. */
const MAX_TOPICS_PER_SECOND = 10_000;

export class RateHistory {
  readonly #samples: (RateSample | undefined)[] = new Array<RateSample | undefined>(
    HISTORY_SECONDS,
  );
  #next = 0;
  #count = 0;
  #lastIn: number | null = null;
  #lastOut = 0;
  #topicSeconds: Map<string, number>[] = [];
  #currentTopics = new Map<string, number>();

  /** Records the second that just ended from the cumulative counters. */
  sample(at: number, publishIn: number, publishOut: number, clients: number): void {
    if (this.#lastIn !== null) {
      this.#samples[this.#next] = {
        at,
        in: Math.max(0, publishIn - this.#lastIn),
        out: Math.max(0, publishOut - this.#lastOut),
        clients,
      };
      this.#next = (this.#next + 1) % HISTORY_SECONDS;
      this.#count = Math.min(this.#count + 1, HISTORY_SECONDS);
    }
    this.#lastIn = publishIn;
    this.#lastOut = publishOut;
    this.#topicSeconds.push(this.#currentTopics);
    if (this.#topicSeconds.length > TOPIC_WINDOW_SECONDS) this.#topicSeconds.shift();
    this.#currentTopics = new Map();
  }

  /** A message was published on `topic` (counted into the current second). */
  countTopic(topic: string): void {
    const seen = this.#currentTopics.get(topic);
    if (seen !== undefined) this.#currentTopics.set(topic, seen + 1);
    else if (this.#currentTopics.size < MAX_TOPICS_PER_SECOND) this.#currentTopics.set(topic, 1);
  }

  /** The last second's sample (zeros before the first). */
  latest(): RateSample {
    if (this.#count === 0) return { at: Date.now(), in: 0, out: 0, clients: 0 };
    return this.#samples[(this.#next - 1 + HISTORY_SECONDS) % HISTORY_SECONDS] as RateSample;
  }

  /** The samples of the last hour, oldest first, averaged over buckets of `seconds`. */
  history(seconds: number): RateSample[] {
    const ordered: RateSample[] = [];
    for (let i = this.#count; i > 0; i--) {
      const sample = this.#samples[(this.#next - i + HISTORY_SECONDS) % HISTORY_SECONDS];
      if (sample !== undefined) ordered.push(sample);
    }
    const buckets: RateSample[] = [];
    for (let start = 0; start < ordered.length; start += seconds) {
      const bucket = ordered.slice(start, start + seconds);
      const last = bucket[bucket.length - 1] as RateSample;
      const average = (pick: (s: RateSample) => number): number =>
        bucket.reduce((sum, s) => sum + pick(s), 0) / bucket.length;
      buckets.push({
        at: last.at,
        in: average((s) => s.in),
        out: average((s) => s.out),
        clients: last.clients,
      });
    }
    return buckets;
  }

  /** Messages per second of each topic seen in the last ten seconds. */
  topicRates(): Map<string, number> {
    const totals = new Map<string, number>();
    for (const second of this.#topicSeconds) {
      for (const [topic, count] of second) totals.set(topic, (totals.get(topic) ?? 0) + count);
    }
    const window = Math.max(1, this.#topicSeconds.length);
    for (const [topic, count] of totals) totals.set(topic, count / window);
    return totals;
  }
}
