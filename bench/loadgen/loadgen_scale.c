/*
 * The scale modes (see loadgen.c): many subscriptions, many retained messages.
 *
 * subs: --clients subscribers share --count filters (filter k belongs to subscriber
 *   k % clients) and send them in SUBSCRIBEs of 100 filters, at most 8 unanswered each, so the
 *   broker always has work queued: the subscribe rate. Exact filters are bench/s/<k>;
 *   --wildcards 1 makes them bench/w/<k>/+ (k even) and bench/w/<k>/# (k odd), and the topics
 *   bench/w/<k>/x. Then one publisher sends QoS 0 messages to the topics in a scattered order
 *   (k = j * 7919 mod count), each matching exactly one filter, with at most --window
 *   undelivered: the routing rate over all those subscriptions, measured like fan-in.
 * retained: --clients publishers store --count retained QoS 1 messages on bench/r/<k>, at most
 *   --qos-window unacknowledged each (the store rate), then one subscriber of bench/r/# (QoS 0)
 *   counts them as they arrive: the time until it has all of them.
 * RSS of the broker is read before and after the first phase.
 */
#include "loadgen.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUBSCRIBES_IN_FLIGHT 8
#define SCATTER 7919 /* prime, so j * SCATTER mod count visits every k once per count */
#define OUT_CHUNK (64 * 1024)

static int nsubscribers, npublishers;
static uint64_t *next_index; /* per subscriber (subs) or publisher (retained): next k to send */

static conn_t *subscriber(int i) { return &conns[i]; }
static conn_t *publisher(int i) { return &conns[nsubscribers + i]; }

void build_scale(void) {
  if (opt.count < 1) fatal("--count must be at least 1");
  if (opt.mode == MODE_SUBS) {
    nsubscribers = opt.clients;
    npublishers = 1;
  } else {
    nsubscribers = 1;
    npublishers = opt.clients;
  }
  for (int i = 0; i < nsubscribers + npublishers; i++) add_conn(ROLE_BARE, 0, 0, "");
  next_index = calloc((size_t)(nsubscribers + npublishers), sizeof *next_index);
  if (!next_index) fatal("out of memory");
}

static void topic_of(long k, char *out, size_t size) {
  if (opt.mode == MODE_RETAINED) snprintf(out, size, "bench/r/%ld", k);
  else if (opt.wildcards) snprintf(out, size, "bench/w/%ld/x", k);
  else snprintf(out, size, "bench/s/%ld", k);
}

static void filter_of(long k, char *out, size_t size) {
  if (opt.wildcards) snprintf(out, size, "bench/w/%ld/%s", k, k % 2 ? "#" : "+");
  else snprintf(out, size, "bench/s/%ld", k);
}

static uint16_t next_packet_id(conn_t *c) {
  if (++c->next_pid == 0) c->next_pid = 1;
  return c->next_pid;
}

/* One SUBSCRIBE of the next filters of subscriber i; 0 when it has sent all of its own. */
static int send_subscribe(int i) {
  conn_t *c = subscriber(i);
  uint8_t body[MAX_FILTERS_PER_SUBSCRIBE * 40 + 2], packet[sizeof body + 5];
  uint16_t id = next_packet_id(c);
  uint32_t n = 0;
  body[n++] = (uint8_t)(id >> 8);
  body[n++] = (uint8_t)id;
  int filters = 0;
  for (long k = (long)next_index[i] * nsubscribers + i;
       k < opt.count && filters < MAX_FILTERS_PER_SUBSCRIBE; k += nsubscribers, filters++) {
    char filter[40];
    filter_of(k, filter, sizeof filter);
    n += put_string(body + n, filter);
    body[n++] = 0; /* QoS 0 */
    next_index[i]++;
  }
  if (!filters) return 0;
  packet[0] = 0x82;
  uint32_t h = 1 + put_varint(packet + 1, n);
  memcpy(packet + h, body, n);
  send_bytes(c, packet, h + n);
  c->sent++;
  return 1;
}

/* Appends one PUBLISH of topic k to buf; returns its length. */
static uint32_t encode_topic_publish(uint8_t *buf, long k, int qos, int retain, uint16_t id) {
  char topic[48];
  topic_of(k, topic, sizeof topic);
  uint32_t tlen = (uint32_t)strlen(topic);
  buf[0] = (uint8_t)(0x30 | qos << 1 | retain);
  uint32_t h = 1 + put_varint(buf + 1, 2 + tlen + (qos ? 2 : 0) + (uint32_t)opt.payload);
  uint32_t n = h + put_string(buf + h, topic);
  if (qos) {
    buf[n++] = (uint8_t)(id >> 8);
    buf[n++] = (uint8_t)id;
  }
  memset(buf + n, 'r', (size_t)opt.payload);
  return n + (uint32_t)opt.payload;
}

/* Up to `max` messages of publisher p to its next topics, in writes of up to 64 KB. */
static void send_publishes(int p, long max, int qos, int retain, long stride, long first) {
  conn_t *c = publisher(p);
  static uint8_t buf[OUT_CHUNK + 512];
  uint32_t n = 0;
  for (long sent = 0; sent < max && !c->write_blocked; sent++) {
    long k = (first + (long)next_index[nsubscribers + p] * stride) % opt.count;
    n += encode_topic_publish(buf + n, k, qos, retain, qos ? next_packet_id(c) : 0);
    next_index[nsubscribers + p]++;
    c->sent++;
    c->inflight += qos ? 1 : 0;
    if (n >= OUT_CHUNK || sent + 1 == max) {
      send_bytes(c, buf, n);
      n = 0;
    }
  }
  if (n) send_bytes(c, buf, n);
}

static void poll_once(int timeout_ms) {
  struct epoll_event evs[MAX_EVENTS];
  int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);
  if (n < 0 && errno != EINTR) fatal("epoll_wait: %s", strerror(errno));
  for (int i = 0; i < n; i++) handle_event(&evs[i]);
}

static uint64_t total(int first, int count, int field) {
  uint64_t sum = 0;
  for (int i = first; i < first + count; i++)
    sum += field == 0 ? conns[i].sent : field == 1 ? conns[i].subacked
         : field == 2 ? conns[i].delivered : conns[i].acked;
  return sum;
}

static void check_deadline(double deadline, const char *what, uint64_t done) {
  if (now_s() > deadline)
    fatal("%s timed out after %.0f s: %llu of %ld", what, opt.setup_timeout,
          (unsigned long long)done, opt.count);
}

/* subs: all filters subscribed; retained: all messages stored (acknowledged). */
static void first_phase(void) {
  double deadline = now_s() + opt.setup_timeout;
  if (opt.mode == MODE_SUBS) {
    for (;;) {
      int more = 0;
      for (int i = 0; i < nsubscribers; i++) {
        conn_t *c = subscriber(i);
        while (!c->write_blocked && c->sent - c->subacked < SUBSCRIBES_IN_FLIGHT &&
               send_subscribe(i))
          more = 1;
        more |= c->sent > c->subacked;
        more |= (long)next_index[i] * nsubscribers + i < opt.count;
      }
      if (!more) return;
      check_deadline(deadline, "subscribing", total(0, nsubscribers, 1));
      poll_once(20);
    }
  }
  for (;;) {
    int more = 0;
    for (int p = 0; p < npublishers; p++) {
      conn_t *c = publisher(p);
      long left = (opt.count - p + npublishers - 1) / npublishers - (long)c->sent;
      long room = opt.qos_window - (long)c->inflight;
      if (left > 0 && room > 0) send_publishes(p, left < room ? left : room, 1, 1, npublishers, p);
      more |= left > 0 || c->inflight > 0;
    }
    if (!more) return;
    check_deadline(deadline, "storing retained messages", total(nsubscribers, npublishers, 3));
    poll_once(20);
  }
}

typedef struct {
  double wall, self_cpu, broker_cpu, machine;
  uint64_t delivered, sent;
} mark_t;

static mark_t mark(void) {
  mark_t m = {.wall = now_s(), .self_cpu = self_cpu_seconds(),
              .broker_cpu = proc_cpu_seconds(opt.broker_pid), .machine = machine_busy_seconds(),
              .delivered = total(0, nsubscribers, 2), .sent = total(nsubscribers, npublishers, 0)};
  return m;
}

static void sleep_tick(void) {
  struct timespec tick = {.tv_nsec = (long)opt.tick_us * 1000};
  if (opt.tick_us) nanosleep(&tick, NULL);
}

/* subs: QoS 0 routing for warm-up + duration, then a drain; returns the measured window. */
static void route(mark_t *start, mark_t *end) {
  double t0 = now_s(), measure_at = t0 + opt.warmup, end_at = measure_at + opt.duration;
  int measuring = 0;
  for (;;) {
    double t = now_s();
    if (!measuring && t >= measure_at) {
      *start = mark();
      measuring = 1;
    } else if (measuring && t >= end_at) {
      *end = mark();
      break;
    }
    long credit = opt.window - (long)(publisher(0)->sent - total(0, nsubscribers, 2));
    if (credit >= opt.refill) send_publishes(0, credit, 0, 0, SCATTER, 0);
    sleep_tick();
    poll_once(0);
  }
  double drain_until = now_s() + opt.drain;
  while (total(0, nsubscribers, 2) < publisher(0)->sent && now_s() < drain_until) poll_once(20);
}

/* retained: subscribe to bench/r/# and wait for every stored message (10 s without one: stop). */
static void receive_all(mark_t *start, mark_t *end) {
  conn_t *c = subscriber(0);
  uint8_t p[64];
  *start = mark();
  send_bytes(c, p, encode_subscribe(p, "bench/r/#", 0));
  double deadline = now_s() + opt.setup_timeout, last_progress = now_s();
  uint64_t seen = 0;
  while (c->delivered < (uint64_t)opt.count) {
    poll_once(20);
    if (c->delivered != seen) {
      seen = c->delivered;
      last_progress = now_s();
    }
    if (now_s() > deadline || now_s() - last_progress > 10) break;
  }
  *end = mark();
  start->sent = 0;
  end->sent = (uint64_t)opt.count;
}

void run_scale(void) {
  run_setup();
  long rss_before = rss_kb(opt.broker_pid);
  mark_t s0 = mark();
  first_phase();
  mark_t s1 = mark();
  long rss_after = rss_kb(opt.broker_pid);
  mark_t start = {0}, end = {0};
  if (opt.mode == MODE_SUBS) route(&start, &end);
  else receive_all(&start, &end);
  uint64_t sent = opt.mode == MODE_SUBS ? publisher(0)->sent : (uint64_t)opt.count;
  printf("{\"ok\":true,\"count\":%ld,\"setup_seconds\":%.4f,\"setup_broker_cpu\":%.3f,"
         "\"setup_gen_cpu\":%.3f,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"elapsed\":%.4f,"
         "\"delivered\":%llu,\"sent\":%llu,\"lost\":%lld,\"broker_cpu\":%.3f,\"gen_cpu\":%.3f,"
         "\"machine_busy\":%.3f,\"rss_end_kb\":%ld}\n",
         opt.count, s1.wall - s0.wall, s1.broker_cpu - s0.broker_cpu, s1.self_cpu - s0.self_cpu,
         rss_before, rss_after, end.wall - start.wall,
         (unsigned long long)(end.delivered - start.delivered),
         (unsigned long long)(end.sent - start.sent),
         (long long)(sent - total(0, nsubscribers, 2)), end.broker_cpu - start.broker_cpu,
         end.self_cpu - start.self_cpu, end.machine - start.machine, rss_kb(opt.broker_pid));
  fflush(stdout);
  close_all();
}
