/*
 * loadgen: the MQTT load generator of `npm run bench` (bench/broker.ts compiles it with gcc
 * into a temp dir and runs it once per measurement). MQTT 3.1.1, 127.0.0.1; clean sessions
 * unless `--durable 1`.
 *
 * Modes:
 *   fanin        N publishers on bench/in/<i> -> 1 subscriber on bench/#, QoS 0
 *   fanout       1 publisher -> N subscribers of bench/out, QoS 0
 *   qos1         N pairs: publisher i -> bench/q1/<i> -> subscriber i, QoS 1 both ways
 *   latency      1 publisher -> 1 subscriber at a fixed rate (open loop, timerfd paced), the
 *                send time (CLOCK_MONOTONIC) in the first 8 payload bytes
 *   connections  N idle clients; broker RSS (/proc/<pid>/status) before and after
 *   subs         --count subscriptions on distinct topics (--wildcards 1: filters ending in
 *                + or #), spread over --clients subscribers, pipelined SUBSCRIBEs of 100
 *                filters: subscribe rate and broker RSS; then 1 publisher routes QoS 0
 *                messages across all of them (each matches one filter): routing rate
 *   retained     --count retained messages on distinct topics stored (QoS 1, acknowledged),
 *                then 1 subscriber of bench/r/# receives them all: both rates and RSS
 *   puback       1 QoS 1 publisher at a fixed rate (open loop, as latency) -> 1 durable
 *                subscriber that went offline after its SUBACK, so the broker stores every
 *                message for it; the latency is PUBLISH written -> its PUBACK read
 *
 * --durable 1 (bench/persistence.ts): subscribers connect with clean session 0, so their
 * sessions are durable and the broker's persistence has every message to them to keep.
 * Their topics then carry this process's pid (sessions of earlier runs that were not
 * cleaned up must not match), and after the run each subscriber's client id connects once
 * more with clean session 1, which discards the session, so runs do not pile up state.
 * Mode puback always makes its subscriber durable.
 *
 * Two brokers (bench/bridge.ts): with `--sub-port P` subscribers connect to 127.0.0.1:P and
 * publishers to --port, so messages must cross whatever links the two (a bridge);
 * `--broker2-pid` samples the second broker's CPU too (broker2_cpu, else 0). `--qos 0` makes
 * the qos1 mode's pairs QoS 0 (publish, subscribe; the pair window still applies), `--qos 2`
 * QoS 2 (PUBREC -> PUBREL -> PUBCOMP for publishers, PUBREC and PUBCOMP from subscribers);
 * in latency mode `--qos 1` makes both sides QoS 1 (default 0).
 *
 * --tls 1.2|1.3 (loadgen_tls.c): every client speaks TLS of that version. Payloads from 8 bytes
 * to 16 MB; a large PUBLISH is counted once its head has arrived and the rest is skipped.
 *
 * Sources: loadgen.c (this: options, set-up, traffic and connections modes), loadgen_io.c,
 * loadgen_tls.c, loadgen_scale.c; declarations shared in loadgen.h.
 *
 * Why C and one thread: on a 2-core machine the generator shares the CPU with the broker it
 * measures. One epoll loop over non-blocking sockets costs a few percent of a core at
 * 300k msg/s, so the table shows the broker's limit, not ours. To stay cheap:
 *   - every PUBLISH is encoded once; a publisher keeps `batch` copies back to back and sends
 *     them with one write() (only packet ids / timestamps are patched in place). Brokers see
 *     nearly the same input either way (a busy broker finds many packets per read() even
 *     from one-packet writes: Mosquitto measured a few % lower with --batch 1); batching
 *     saves our syscalls;
 *   - throughput modes poll at most once per `tick` (0.5-1 ms): deliveries and acks pile up
 *     in the socket buffers meanwhile, so each read()/write() handles many packets;
 *   - deliveries are counted by walking fixed headers (type nibble + remaining length) of
 *     whatever a read() returned, without decoding topics or payloads;
 *   - the PUBACKs for one read() go back with one write().
 *
 * Flow control (closed loop): in throughput modes a publisher group may have at most `window`
 * messages sent but not yet delivered to its slowest subscriber, and a QoS 1 publisher at
 * most `qos_window` unacknowledged. Brokers therefore never queue more than `window` messages
 * per subscriber, so no queue limit drops messages (the drain phase checks it: `lost` must be
 * 0), and the figure is the broker's sustainable delivered rate, not how fast it discards.
 *
 * Output: one JSON line on stdout ({"ok":true,...} or {"error":"..."}); exit status 0 / 2.
 * The measured window (after `warmup`) is timed here, and CPU (/proc/<pid>/stat of the
 * broker, getrusage of this process, /proc/stat for the machine) is sampled at its edges.
 */
#include "loadgen.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct options opt = {.host = "127.0.0.1", .port = 1883, .mode = MODE_FANIN, .batch = 32,
                      .clients = 100, .payload = 64, .rate = 10000, .qos_window = 16,
                      .keepalive = 60, .tick_us = 1000, .pair_qos = -1, .warmup = 1.0,
                      .duration = 3.0, .drain = 3.0, .setup_timeout = 30.0};

conn_t *conns;
int nconns;
group_t *groups;
int ngroups;
int epfd, timer_fd = -1;
int phase = PH_SETUP;
int measuring_latency;
double lat_t0;
uint64_t lat_sent;
int pending_connects, next_to_connect, connected_count;

/* ---------- setup of each scenario ---------- */

conn_t *add_conn(int role, int group, int qos, const char *topic) {
  conn_t *c = &conns[nconns++];
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->port = role == ROLE_SUB && opt.sub_port ? opt.sub_port : opt.port;
  c->role = (uint8_t)role;
  c->group = group;
  c->qos = (uint8_t)qos;
  snprintf(c->topic, sizeof c->topic, "%s", topic);
  if (role == ROLE_PUB) encode_publish_batch(c);
  return c;
}

static group_t *add_group(int npubs, int nsubs) {
  group_t *g = &groups[ngroups++];
  g->pubs = calloc((size_t)npubs + 1, sizeof(int));
  g->subs = calloc((size_t)nsubs + 1, sizeof(int));
  if (!g->pubs || !g->subs) fatal("out of memory");
  return g;
}

static void build(void) {
  int n = opt.clients;
  conns = calloc((size_t)n * 2 + 2, sizeof *conns);
  groups = calloc((size_t)n + 1, sizeof *groups);
  if (!conns || !groups) fatal("out of memory");
  char topic[64];
  switch (opt.mode) {
  case MODE_FANIN: { /* n publishers on bench/in/<i> -> 1 subscriber on bench/# */
    group_t *g = add_group(n, 1);
    g->subs[g->nsubs++] = nconns;
    add_conn(ROLE_SUB, 0, 0, "bench/#");
    for (int i = 0; i < n; i++) {
      snprintf(topic, sizeof topic, "bench/in/%d", i);
      g->pubs[g->npubs++] = nconns;
      add_conn(ROLE_PUB, 0, 0, topic);
    }
    break;
  }
  case MODE_FANOUT: { /* 1 publisher -> n subscribers on bench/out */
    group_t *g = add_group(1, n);
    for (int i = 0; i < n; i++) {
      g->subs[g->nsubs++] = nconns;
      add_conn(ROLE_SUB, 0, 0, "bench/out");
    }
    g->pubs[g->npubs++] = nconns;
    add_conn(ROLE_PUB, 0, 0, "bench/out");
    break;
  }
  case MODE_QOS1: /* n pairs: publisher i -> bench/q1/<i> -> subscriber i, QoS 1 both ways
                     (or --qos 0) */
    for (int i = 0; i < n; i++) {
      group_t *g = add_group(1, 1);
      if (opt.durable)
        snprintf(topic, sizeof topic, "bench/q1/%d/%d", (int)getpid(), i);
      else
        snprintf(topic, sizeof topic, "bench/q1/%d", i);
      g->subs[g->nsubs++] = nconns;
      add_conn(ROLE_SUB, i, opt.pair_qos, topic)->durable = (uint8_t)opt.durable;
      g->pubs[g->npubs++] = nconns;
      add_conn(ROLE_PUB, i, opt.pair_qos, topic);
    }
    break;
  case MODE_LATENCY: {
    group_t *g = add_group(1, 1);
    g->subs[g->nsubs++] = nconns;
    add_conn(ROLE_SUB, 0, opt.pair_qos, "bench/lat");
    g->pubs[g->npubs++] = nconns;
    add_conn(ROLE_PUB, 0, opt.pair_qos, "bench/lat");
    break;
  }
  case MODE_PUBACK: { /* the subscriber is in no group: nothing is delivered during the run */
    group_t *g = add_group(1, 0);
    snprintf(topic, sizeof topic, "bench/ack/%d", (int)getpid());
    conn_t *s = add_conn(ROLE_SUB, 0, 1, topic);
    s->durable = 1;
    s->offline_after = 1;
    g->pubs[g->npubs++] = nconns;
    add_conn(ROLE_PUB, 0, 1, topic);
    break;
  }
  case MODE_CONNECTIONS:
    for (int i = 0; i < n; i++) add_conn(ROLE_IDLE, 0, 0, "");
    break;
  case MODE_SUBS:
  case MODE_RETAINED:
    build_scale();
    break;
  default:
    fatal("unknown mode");
  }
}

/* Connects subscribers first (and waits for their SUBACKs) so that no published message
 * can miss them, then the rest; at most `max_pending` handshakes are in progress at once
 * so a 10k connection storm does not overflow the broker's listen backlog. */
void run_setup(void) {
  double deadline = now_s() + opt.setup_timeout;
  int nsubs = 0;
  for (int i = 0; i < nconns; i++) nsubs += conns[i].role == ROLE_SUB;
  const int max_pending = 128;
  struct epoll_event evs[MAX_EVENTS];
  while (connected_count < nconns) {
    int limit = connected_count < nsubs ? nsubs : nconns;
    while (next_to_connect < limit && pending_connects < max_pending)
      {
      start_connect(&conns[next_to_connect], next_to_connect);
      next_to_connect++;
    }
    if (now_s() > deadline)
      fatal("setup timed out: %d of %d clients connected", connected_count, nconns);
    int n = epoll_wait(epfd, evs, MAX_EVENTS, 50);
    for (int i = 0; i < n; i++) handle_event(&evs[i]);
  }
}

static snapshot_t snapshot(void) {
  snapshot_t s = {.wall = now_s(), .self_cpu = self_cpu_seconds(),
                  .broker_cpu = opt.broker_pid ? proc_cpu_seconds(opt.broker_pid) : 0,
                  .broker2_cpu = opt.broker2_pid ? proc_cpu_seconds(opt.broker2_pid) : 0,
                  .machine_busy = machine_busy_seconds()};
  for (int i = 0; i < nconns; i++) {
    s.delivered += conns[i].delivered;
    s.acked += conns[i].acked;
    s.sent += conns[i].sent;
  }
  return s;
}

static int all_delivered(void) {
  for (int gi = 0; gi < ngroups; gi++) {
    const group_t *g = &groups[gi];
    if (slowest_delivered(g) < g->sent) return 0;
    for (int k = 0; k < g->npubs; k++) {
      const conn_t *c = &conns[g->pubs[k]];
      if (c->qos && c->acked < c->sent) return 0;
    }
  }
  return 1;
}

/* After a run with durable subscribers: their client ids connect once more with clean
 * session 1, which discards the stored sessions (and anything still queued for them). One
 * blocking handshake each; failures are only reported on stderr, as the result is out. */
static void forget_durable_sessions(void) {
  static const uint8_t disconnect[2] = {0xe0, 0};
  for (int i = 0; i < nconns; i++) {
    conn_t *c = &conns[i];
    if (!c->durable) continue;
    char id[48];
    uint8_t p[400], in[64];
    client_id(c, id, sizeof id);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    inet_pton(AF_INET, opt.host, &sa.sin_addr);
    uint32_t n = encode_connect(p, id, 1, (long)(c - conns));
    ssize_t got = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        write(fd, p, n) == (ssize_t)n) {
      while (got < 4) { /* CONNACK: 20 02 00 00 */
        ssize_t r = read(fd, in + got, sizeof in - (size_t)got);
        if (r <= 0) break;
        got += r;
      }
    }
    if (got >= 4 && write(fd, disconnect, 2) == 2)
      shutdown(fd, SHUT_WR);
    else
      fprintf(stderr, "loadgen: could not discard the session of %s\n", id);
    if (fd >= 0) close(fd);
  }
}

void close_all(void) {
  static const uint8_t disconnect[2] = {0xe0, 0};
  struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* RST: no TIME_WAIT eating local ports */
  for (int i = 0; i < nconns; i++) {
    if (conns[i].fd < 0) continue;
    if (!conns[i].tls && write(conns[i].fd, disconnect, 2) < 0) { /* best effort */
    }
    setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(conns[i].fd);
  }
}

static void run_connections(void) {
  long before = rss_kb(opt.broker_pid);
  double t0 = now_s(), cpu0 = self_cpu_seconds(), bcpu0 = proc_cpu_seconds(opt.broker_pid);
  run_setup();
  double connect_time = now_s() - t0;
  /* let the broker finish whatever it does lazily after CONNACK */
  struct epoll_event evs[MAX_EVENTS];
  double settle_until = now_s() + 1.0;
  while (now_s() < settle_until) {
    int n = epoll_wait(epfd, evs, MAX_EVENTS, 100);
    for (int i = 0; i < n; i++) handle_event(&evs[i]);
  }
  long after = rss_kb(opt.broker_pid);
  double elapsed = now_s() - t0;
  printf("{\"ok\":true,\"clients\":%d,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,"
         "\"connect_seconds\":%.3f,\"elapsed\":%.3f,\"broker_cpu\":%.3f,\"gen_cpu\":%.3f}\n",
         nconns, before, after, connect_time, elapsed, proc_cpu_seconds(opt.broker_pid) - bcpu0,
         self_cpu_seconds() - cpu0);
  fflush(stdout);
  close_all();
}

static void run_traffic(void) {
  run_setup();
  if (paced()) {
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    long period_ns = 1000000000L / opt.rate;
    struct itimerspec its = {.it_interval = {0, period_ns}, .it_value = {0, period_ns}};
    timerfd_settime(timer_fd, 0, &its, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)TIMER_TAG};
    epoll_ctl(epfd, EPOLL_CTL_ADD, timer_fd, &ev);
    lat_t0 = now_s();
  }
  struct epoll_event evs[MAX_EVENTS];
  snapshot_t start = {0}, end = {0};
  double t0 = now_s();
  double measure_at = t0 + opt.warmup, end_at = measure_at + opt.duration, drain_until = 0;
  phase = PH_WARMUP;
  while (phase != PH_DONE) {
    double t = now_s();
    if (phase == PH_WARMUP && t >= measure_at) {
      start = snapshot();
      phase = PH_MEASURE;
      measuring_latency = 1;
    } else if (phase == PH_MEASURE && t >= end_at) {
      end = snapshot();
      phase = PH_DRAIN;
      measuring_latency = 0;
      drain_until = t + opt.drain;
    } else if (phase == PH_DRAIN && (all_delivered() || t >= drain_until)) {
      phase = PH_DONE;
      break;
    }
    if (phase != PH_DRAIN) {
      if (paced())
        pace_latency();
      else
        pump();
    }
    double next = phase == PH_WARMUP ? measure_at : phase == PH_MEASURE ? end_at : drain_until;
    int timeout = (int)((next - now_s()) * 1000) + 1;
    if (timeout > 20) timeout = 20;
    if (timeout < 0) timeout = 0;
    if (opt.tick_us && !paced()) {
      /* Polling at most once per tick lets deliveries and acks pile up in the socket
       * buffers, so each read()/write() handles many of them. The windows keep far more
       * than one tick of work queued at the broker, so it never waits for us. */
      struct timespec until = {0};
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_nsec += (long)opt.tick_us * 1000;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    }
    int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR) fatal("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) handle_event(&evs[i]);
  }
  uint64_t expected = 0, delivered = 0;
  for (int gi = 0; gi < ngroups; gi++) {
    expected += groups[gi].sent * (uint64_t)groups[gi].nsubs;
    for (int k = 0; k < groups[gi].nsubs; k++) delivered += conns[groups[gi].subs[k]].delivered;
  }
  double elapsed = end.wall - start.wall;
  double p50, p99, p999, max;
  size_t nlat;
  latency_results(&p50, &p99, &p999, &max, &nlat);
  printf("{\"ok\":true,\"elapsed\":%.4f,\"delivered\":%llu,\"acked\":%llu,\"sent\":%llu,"
         "\"lost\":%lld,\"broker_cpu\":%.3f,\"broker2_cpu\":%.3f,\"gen_cpu\":%.3f,"
         "\"machine_busy\":%.3f,"
         "\"lat_count\":%zu,\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,"
         "\"lat_max_us\":%.1f}\n",
         elapsed, (unsigned long long)(end.delivered - start.delivered),
         (unsigned long long)(end.acked - start.acked),
         (unsigned long long)(end.sent - start.sent), (long long)(expected - delivered),
         end.broker_cpu - start.broker_cpu, end.broker2_cpu - start.broker2_cpu,
         end.self_cpu - start.self_cpu,
         end.machine_busy - start.machine_busy, nlat, p50, p99, p999, max);
  fflush(stdout);
  close_all();
  forget_durable_sessions();
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --mode fanin|fanout|qos1|latency|connections|puback|subs|retained\n"
          "  --port P --broker-pid PID [--durable 0|1] [--sub-port P] [--broker2-pid PID]\n"
          "  [--qos 0|1|2] [--tls 1.2|1.3] [--host 127.0.0.1] [--clients N] [--window W]\n"
          "  [--refill R] [--qos-window Q] [--rate MSG_PER_S] [--payload BYTES] [--warmup S]\n"
          "  [--duration S] [--drain S] [--setup-timeout S] [--keepalive S]\n"
          "  [--batch MSGS_PER_WRITE] [--tick-us US] [--count N] [--wildcards 0|1]\n"
          "  [--user-prefix U [--password-prefix P] [--users N]] (client i: U<i %% N>, P<i %% N>; N 0: all)\n");
  exit(2);
}

/* Every client needs a descriptor (50,000 at most here): raise the soft limit to the hard
 * one, and as root the hard one too. */
static void raise_open_files_limit(void) {
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) != 0) return;
  rlim_t wanted = (rlim_t)nconns + 1000;
  if (nofile.rlim_max < wanted) {
    struct rlimit raised = {.rlim_cur = wanted, .rlim_max = wanted};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return;
  }
  if (nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
}

int main(int argc, char **argv) {
  static const char *modes[] = {"fanin",  "fanout", "qos1", "latency",
                                "connections", "puback", "subs", "retained"};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--mode")) {
      opt.mode = -1;
      for (int m = 0; m < MODE_COUNT; m++)
        if (!strcmp(v, modes[m])) opt.mode = m;
      if (opt.mode < 0) usage();
    } else if (!strcmp(a, "--host")) opt.host = v;
    else if (!strcmp(a, "--port")) opt.port = atoi(v);
    else if (!strcmp(a, "--broker-pid")) opt.broker_pid = atoi(v);
    else if (!strcmp(a, "--clients")) opt.clients = atoi(v);
    else if (!strcmp(a, "--window")) opt.window = atol(v);
    else if (!strcmp(a, "--batch")) opt.batch = atoi(v);
    else if (!strcmp(a, "--refill")) opt.refill = atoi(v);
    else if (!strcmp(a, "--qos-window")) opt.qos_window = atoi(v);
    else if (!strcmp(a, "--rate")) opt.rate = atoi(v);
    else if (!strcmp(a, "--payload")) opt.payload = atoi(v);
    else if (!strcmp(a, "--warmup")) opt.warmup = atof(v);
    else if (!strcmp(a, "--duration")) opt.duration = atof(v);
    else if (!strcmp(a, "--drain")) opt.drain = atof(v);
    else if (!strcmp(a, "--setup-timeout")) opt.setup_timeout = atof(v);
    else if (!strcmp(a, "--keepalive")) opt.keepalive = atoi(v);
    else if (!strcmp(a, "--tick-us")) opt.tick_us = atoi(v);
    else if (!strcmp(a, "--durable")) opt.durable = atoi(v) != 0;
    else if (!strcmp(a, "--sub-port")) opt.sub_port = atoi(v);
    else if (!strcmp(a, "--broker2-pid")) opt.broker2_pid = atoi(v);
    else if (!strcmp(a, "--qos")) opt.pair_qos = atoi(v);
    else if (!strcmp(a, "--tls")) opt.tls = !strcmp(v, "1.3") ? 13 : !strcmp(v, "1.2") ? 12 : -1;
    else if (!strcmp(a, "--count")) opt.count = atol(v);
    else if (!strcmp(a, "--wildcards")) opt.wildcards = atoi(v) != 0;
    else if (!strcmp(a, "--user-prefix")) opt.user_prefix = v;
    else if (!strcmp(a, "--password-prefix")) opt.password_prefix = v;
    else if (!strcmp(a, "--users")) opt.users = atoi(v);
    else usage();
  }
  if (opt.pair_qos < 0) opt.pair_qos = opt.mode == MODE_QOS1 ? 1 : 0;
  if (opt.clients < 1 || opt.payload < 8 || opt.payload > MAX_PAYLOAD || opt.rate < 1 ||
      !opt.broker_pid || opt.batch < 1 || opt.batch > MAX_BATCH || opt.pair_qos > 2 ||
      opt.tls < 0 || opt.qos_window < 1 || opt.qos_window > 65000)
    usage();
  if (opt.window <= 0) opt.window = 4000;
  if (opt.refill <= 0) opt.refill = opt.window / 8 > 0 ? (int)(opt.window / 8) : 1;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) fatal("epoll_create1: %s", strerror(errno));
  if (opt.tls) tls_init(opt.tls);
  build();
  raise_open_files_limit();
  if (opt.mode == MODE_CONNECTIONS)
    run_connections();
  else if (opt.mode == MODE_SUBS || opt.mode == MODE_RETAINED)
    run_scale();
  else
    run_traffic();
  return 0;
}
