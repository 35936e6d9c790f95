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
 * the qos1 mode's pairs QoS 0 (publish, subscribe; the pair window still applies).
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
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 64 /* messages per publisher write(), at most */
#define BURST 64     /* messages per publisher per loop turn, at most */
#define READ_BUFFER (256 * 1024) /* one shared read buffer; a read takes at most this */
#define MAX_EVENTS 1024
#define TIMER_TAG (-1)

enum { ROLE_PUB = 1, ROLE_SUB = 2, ROLE_IDLE = 3 };
enum { ST_TCP, ST_CONNACK, ST_SUBACK, ST_READY };
enum { MODE_FANIN, MODE_FANOUT, MODE_QOS1, MODE_LATENCY, MODE_CONNECTIONS, MODE_PUBACK };
enum { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };

typedef struct {
  int fd, port;
  uint8_t role, state, qos, write_blocked;
  uint8_t durable;       /* CONNECT with clean session 0 */
  uint8_t offline_after; /* subscriber: DISCONNECT and close once its SUBACK arrived */
  int group;
  char topic[64];
  /* bytes of an incomplete packet left over from the previous read */
  uint8_t *carry;
  uint32_t carry_len, carry_cap;
  /* bytes the kernel did not accept yet (EPOLLOUT pending) */
  uint8_t *out;
  uint32_t out_len, out_off, out_cap;
  /* publisher: `batch` pre-encoded PUBLISH packets back to back */
  uint8_t *batch;
  uint32_t msg_len, pid_off, ts_off;
  uint16_t next_pid;
  uint32_t inflight;
  uint64_t sent, acked, delivered;
} conn_t;

typedef struct {
  int *pubs, npubs, *subs, nsubs, rotate;
  uint64_t sent;
} group_t;

typedef struct {
  double wall, self_cpu, broker_cpu, broker2_cpu, machine_busy;
  uint64_t delivered, acked, sent;
} snapshot_t;

static struct {
  const char *host;
  int port, mode, broker_pid, batch, clients, payload, rate, qos_window, refill, keepalive, tick_us;
  int durable, sub_port, broker2_pid, pair_qos, users;
  long window;
  /* --user-prefix/--password-prefix: client i logs in as <user-prefix><i % users> with the
   * password <password-prefix><i % users> (bench/dynsec.ts); unset: no username, as before */
  const char *user_prefix, *password_prefix;
  double warmup, duration, drain, setup_timeout;
} opt = {.host = "127.0.0.1", .port = 1883, .mode = MODE_FANIN, .batch = 32, .clients = 100,
         .payload = 64, .rate = 10000, .qos_window = 16, .keepalive = 60, .tick_us = 1000,
         .pair_qos = 1, .warmup = 1.0, .duration = 3.0, .drain = 3.0, .setup_timeout = 30.0};

static conn_t *conns;
static int nconns;
static group_t *groups;
static int ngroups;
static int epfd, timer_fd = -1;
static uint8_t rbuf[READ_BUFFER];
static int phase = PH_SETUP;
static double *latencies;
static size_t nlat, lat_cap;
static int measuring_latency;
static double lat_t0;
static uint64_t lat_sent;
static int pending_connects, next_to_connect, connected_count;
static uint64_t puback_sent_ns[65536]; /* puback mode: when each packet id was written */

/* Rate-paced modes: an open-loop publisher driven by a timerfd. */
static int paced(void) { return opt.mode == MODE_LATENCY || opt.mode == MODE_PUBACK; }

static void fatal(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = ' ';
  printf("{\"error\":\"%s\"}\n", msg);
  fflush(stdout);
  exit(2);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------- /proc sampling ---------- */

static double proc_cpu_seconds(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) fatal("broker process %d is gone", pid);
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) fatal("cannot read %s", path);
  buf[n] = 0;
  /* fields after "(comm)": state is field 3, utime 14, stime 15 */
  char *p = strrchr(buf, ')');
  if (!p) fatal("bad %s", path);
  p += 2;
  unsigned long long utime = 0, stime = 0;
  if (sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    fatal("bad %s", path);
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds that all processes of the machine spent (user + nice + system, all cores), so
 * the load of other processes shows in the report. Interrupt time is left out: it is mostly
 * loopback TCP work of the benchmark itself, charged to no process. */
static double machine_busy_seconds(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return 0;
  unsigned long long v[8] = {0};
  int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  if (got < 5) return 0;
  unsigned long long busy = v[0] + v[1] + v[2];
  return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static long rss_kb(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) fatal("broker process %d is gone", pid);
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

/* ---------- packet encoding ---------- */

static uint32_t put_varint(uint8_t *p, uint32_t v) {
  uint32_t n = 0;
  do {
    uint8_t b = v % 128;
    v /= 128;
    p[n++] = v ? (uint8_t)(b | 0x80) : b;
  } while (v);
  return n;
}

static uint32_t put_string(uint8_t *p, const char *s) {
  size_t len = strlen(s);
  p[0] = (uint8_t)(len >> 8);
  p[1] = (uint8_t)len;
  memcpy(p + 2, s, len);
  return (uint32_t)(len + 2);
}

/* `index`: the client's number, which picks its username and password (if any). */
static uint32_t encode_connect(uint8_t *p, const char *client_id, int clean, long index) {
  uint8_t body[384];
  uint32_t n = put_string(body, "MQTT");
  body[n++] = 4; /* MQTT 3.1.1 */
  uint8_t flags = clean ? 0x02 : 0x00; /* clean session flag */
  if (opt.user_prefix) flags |= 0x80;
  if (opt.user_prefix && opt.password_prefix) flags |= 0x40;
  body[n++] = flags;
  body[n++] = (uint8_t)(opt.keepalive >> 8);
  body[n++] = (uint8_t)opt.keepalive;
  n += put_string(body + n, client_id);
  if (opt.user_prefix) {
    char credential[128];
    long k = opt.users > 0 ? index % opt.users : index;
    snprintf(credential, sizeof credential, "%s%ld", opt.user_prefix, k);
    n += put_string(body + n, credential);
    if (opt.password_prefix) {
      snprintf(credential, sizeof credential, "%s%ld", opt.password_prefix, k);
      n += put_string(body + n, credential);
    }
  }
  p[0] = 0x10;
  uint32_t h = 1 + put_varint(p + 1, n);
  memcpy(p + h, body, n);
  return h + n;
}

static uint32_t encode_subscribe(uint8_t *p, const char *filter, int qos) {
  uint8_t body[128];
  uint32_t n = 0;
  body[n++] = 0;
  body[n++] = 1; /* packet id 1 */
  n += put_string(body + n, filter);
  body[n++] = (uint8_t)qos;
  p[0] = 0x82;
  uint32_t h = 1 + put_varint(p + 1, n);
  memcpy(p + h, body, n);
  return h + n;
}

/* Fills c->batch with `batch` copies of one PUBLISH to c->topic and records the offsets of the
 * packet id and of the 8-byte timestamp at the start of the payload. */
static void encode_publish_batch(conn_t *c) {
  uint8_t one[512];
  uint32_t tlen = (uint32_t)strlen(c->topic);
  uint32_t body = 2 + tlen + (c->qos ? 2 : 0) + (uint32_t)opt.payload;
  one[0] = (uint8_t)(0x30 | (c->qos << 1));
  uint32_t h = 1 + put_varint(one + 1, body);
  uint32_t n = h + put_string(one + h, c->topic);
  c->pid_off = c->qos ? n : 0;
  if (c->qos) n += 2;
  c->ts_off = n;
  for (int i = 0; i < opt.payload; i++) one[n + (uint32_t)i] = (uint8_t)('a' + i % 26);
  n += (uint32_t)opt.payload;
  c->msg_len = n;
  c->batch = malloc((size_t)n * opt.batch);
  if (!c->batch) fatal("out of memory");
  for (int i = 0; i < opt.batch; i++) memcpy(c->batch + (size_t)i * n, one, n);
}

/* ---------- socket plumbing ---------- */

static void watch(conn_t *c, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(c - conns)};
  if (epoll_ctl(epfd, op, c->fd, &ev) < 0) fatal("epoll_ctl: %s", strerror(errno));
}

static void start_connect(conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) fatal("socket: %s (raise ulimit -n)", strerror(errno));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
  inet_pton(AF_INET, opt.host, &sa.sin_addr);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
    fatal("connect to %s:%d: %s", opt.host, c->port, strerror(errno));
  c->state = ST_TCP;
  pending_connects++;
  watch(c, EPOLLOUT, EPOLL_CTL_ADD);
}

/* Appends to the pending output of c (only used when the kernel did not take everything). */
static void queue_out(conn_t *c, const uint8_t *p, uint32_t n) {
  if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (c->out_len + n > c->out_cap) {
    c->out_cap = (c->out_len + n) * 2;
    c->out = realloc(c->out, c->out_cap);
    if (!c->out) fatal("out of memory");
  }
  memcpy(c->out + c->out_len, p, n);
  c->out_len += n;
  if (!c->write_blocked) {
    c->write_blocked = 1;
    watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
  }
}

static void send_bytes(conn_t *c, const uint8_t *p, uint32_t n) {
  if (c->write_blocked) {
    queue_out(c, p, n);
    return;
  }
  ssize_t w = write(c->fd, p, n);
  if (w < 0) {
    if (errno != EAGAIN) fatal("write: %s", strerror(errno));
    w = 0;
  }
  if ((uint32_t)w < n) queue_out(c, p + w, n - (uint32_t)w);
}

static void flush_out(conn_t *c) {
  while (c->out_off < c->out_len) {
    ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (w < 0) {
      if (errno == EAGAIN) return;
      fatal("write: %s", strerror(errno));
    }
    c->out_off += (uint32_t)w;
  }
  c->out_off = c->out_len = 0;
  c->write_blocked = 0;
  watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

/* ---------- publishing ---------- */

/* Sends up to n messages, `batch` per write(); stops early when the socket is full. */
static void publish(conn_t *c, uint32_t n) {
  while (n > 0 && !c->write_blocked) {
    uint32_t k = n < (uint32_t)opt.batch ? n : (uint32_t)opt.batch;
    for (uint32_t i = 0; i < k && c->qos; i++) {
      uint8_t *p = c->batch + (size_t)i * c->msg_len + c->pid_off;
      if (++c->next_pid == 0) c->next_pid = 1;
      p[0] = (uint8_t)(c->next_pid >> 8);
      p[1] = (uint8_t)c->next_pid;
    }
    send_bytes(c, c->batch, k * c->msg_len);
    c->sent += k;
    c->inflight += c->qos ? k : 0;
    groups[c->group].sent += k;
    n -= k;
  }
}

static uint64_t slowest_delivered(const group_t *g) {
  uint64_t m = UINT64_MAX;
  for (int i = 0; i < g->nsubs; i++)
    if (conns[g->subs[i]].delivered < m) m = conns[g->subs[i]].delivered;
  return m;
}

/* Sends what the windows allow. Refills wait until `refill` slots are free, so that a
 * trickle of deliveries does not turn into a trickle of one-message writes. */
static void pump(void) {
  for (int gi = 0; gi < ngroups; gi++) {
    group_t *g = &groups[gi];
    long credit = opt.window - (long)(g->sent - slowest_delivered(g));
    if (credit < opt.refill) continue;
    g->rotate = (g->rotate + 1) % g->npubs;
    for (int k = 0; k < g->npubs && credit > 0; k++) {
      conn_t *c = &conns[g->pubs[(g->rotate + k) % g->npubs]];
      if (c->write_blocked || c->state != ST_READY) continue;
      long n = credit < BURST ? credit : BURST;
      if (c->qos) {
        long free_slots = opt.qos_window - (long)c->inflight;
        if (free_slots <= 0) continue;
        if (n > free_slots) n = free_slots;
      }
      publish(c, (uint32_t)n);
      credit -= n;
    }
  }
}

/* Latency mode: send every message that is due by now at `rate`, each with its own
 * timestamp (the actual send time) in the first 8 payload bytes. */
static void pace_latency(void) {
  conn_t *c = &conns[groups[0].pubs[0]];
  if (c->state != ST_READY) return;
  uint64_t due = (uint64_t)((now_s() - lat_t0) * opt.rate);
  while (lat_sent < due && !c->write_blocked) {
    uint64_t t = now_ns();
    memcpy(c->batch + c->ts_off, &t, 8);
    publish(c, 1);
    if (opt.mode == MODE_PUBACK) puback_sent_ns[c->next_pid] = t;
    lat_sent++;
  }
}

/* ---------- reading: walk fixed headers, count, ack ---------- */

static void record_latency_ns(uint64_t sent, uint64_t now) {
  if (nlat == lat_cap) {
    lat_cap = lat_cap ? lat_cap * 2 : 65536;
    latencies = realloc(latencies, lat_cap * sizeof *latencies);
    if (!latencies) fatal("out of memory");
  }
  latencies[nlat++] = (double)(now - sent) / 1000.0;
}

static void record_latency(const uint8_t *ts, uint64_t now) {
  uint64_t sent;
  memcpy(&sent, ts, 8);
  record_latency_ns(sent, now);
}

static void on_connack(conn_t *c, const uint8_t *body, uint32_t len);

/* A durable subscriber leaves: DISCONNECT (no will) and close; the broker keeps its session
 * and stores what arrives for it. */
static void go_offline(conn_t *c) {
  static const uint8_t disconnect[2] = {0xe0, 0};
  if (write(c->fd, disconnect, 2) < 0) { /* the broker notices the close either way */
  }
  close(c->fd);
  c->fd = -1;
}

/* Returns how many bytes of buf[0..len) form whole packets (the rest is carried over). */
static uint32_t scan(conn_t *c, const uint8_t *buf, uint32_t len) {
  uint8_t acks[4 * 1024];
  uint32_t nacks = 0, pos = 0;
  uint64_t read_ns = paced() && measuring_latency ? now_ns() : 0;
  while (pos + 2 <= len) {
    uint32_t rl = 0, mult = 1, i = pos + 1;
    for (;;) {
      if (i >= len) goto done;
      uint8_t b = buf[i++];
      rl += (b & 0x7fu) * mult;
      mult *= 128;
      if (!(b & 0x80)) break;
      if (i - pos > 4) fatal("malformed remaining length from broker");
    }
    if (i + rl > len) break;
    const uint8_t *body = buf + i;
    switch (buf[pos] >> 4) {
    case 3: { /* PUBLISH */
      c->delivered++;
      uint32_t qos = (buf[pos] >> 1) & 3u;
      uint32_t tlen = (uint32_t)body[0] << 8 | body[1];
      if (qos) {
        uint8_t *a = acks + nacks;
        a[0] = qos == 1 ? 0x40 : 0x50;
        a[1] = 2;
        a[2] = body[2 + tlen];
        a[3] = body[3 + tlen];
        nacks += 4;
        if (nacks == sizeof acks) {
          send_bytes(c, acks, nacks);
          nacks = 0;
        }
      }
      if (read_ns && rl >= 2 + tlen + 8) record_latency(body + 2 + tlen, read_ns);
      break;
    }
    case 4: /* PUBACK */
      c->acked++;
      if (c->inflight) c->inflight--;
      if (opt.mode == MODE_PUBACK && read_ns && rl >= 2) {
        uint16_t mid = (uint16_t)(body[0] << 8 | body[1]);
        if (puback_sent_ns[mid]) record_latency_ns(puback_sent_ns[mid], read_ns);
        puback_sent_ns[mid] = 0;
      }
      break;
    case 2: /* CONNACK */
      on_connack(c, body, rl);
      break;
    case 9: /* SUBACK */
      if (rl < 3 || body[2] == 0x80) fatal("subscription refused by broker");
      if (c->state == ST_SUBACK) {
        c->state = ST_READY;
        connected_count++;
        if (c->offline_after) go_offline(c);
      }
      break;
    default:
      break;
    }
    pos = i + rl;
  }
done:
  if (nacks) send_bytes(c, acks, nacks);
  return pos;
}

static void on_connack(conn_t *c, const uint8_t *body, uint32_t len) {
  if (len < 2 || body[1] != 0)
    fatal("broker refused CONNECT (return code %d)", len < 2 ? -1 : body[1]);
  if (c->state != ST_CONNACK) return;
  pending_connects--;
  if (c->role == ROLE_SUB) {
    uint8_t p[160];
    c->state = ST_SUBACK;
    send_bytes(c, p, encode_subscribe(p, c->topic, c->qos));
  } else {
    c->state = ST_READY;
    connected_count++;
  }
}

static void on_readable(conn_t *c) {
  uint32_t have = c->carry_len;
  if (have) memcpy(rbuf, c->carry, have);
  ssize_t n = read(c->fd, rbuf + have, sizeof rbuf - have);
  if (n == 0) fatal("broker closed a connection");
  if (n < 0) {
    if (errno == EAGAIN) return;
    fatal("read: %s", strerror(errno));
  }
  uint32_t total = have + (uint32_t)n;
  uint32_t used = scan(c, rbuf, total);
  c->carry_len = total - used;
  if (c->carry_len) {
    if (c->carry_len > c->carry_cap) {
      c->carry_cap = c->carry_len * 2;
      c->carry = realloc(c->carry, c->carry_cap);
      if (!c->carry) fatal("out of memory");
    }
    memmove(c->carry, rbuf + used, c->carry_len);
  }
}

static void client_id(const conn_t *c, char *id, size_t size) {
  snprintf(id, size, "lg%d-%ld", (int)getpid(), (long)(c - conns));
}

static void on_connected(conn_t *c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) fatal("connect to %s:%d: %s", opt.host, c->port, strerror(err));
  char id[48];
  uint8_t p[400];
  client_id(c, id, sizeof id);
  c->state = ST_CONNACK;
  watch(c, EPOLLIN, EPOLL_CTL_MOD);
  send_bytes(c, p, encode_connect(p, id, !c->durable, (long)(c - conns)));
}

static void handle_event(struct epoll_event *ev) {
  if ((int)ev->data.u32 == TIMER_TAG) {
    uint64_t expirations;
    if (read(timer_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
      fatal("timerfd: %s", strerror(errno));
    return;
  }
  conn_t *c = &conns[ev->data.u32];
  if (c->fd < 0) return; /* went offline earlier in this batch of events */
  if (c->state == ST_TCP) {
    on_connected(c);
    return;
  }
  if (ev->events & EPOLLOUT) flush_out(c);
  if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
}

/* ---------- setup of each scenario ---------- */

static conn_t *add_conn(int role, int group, int qos, const char *topic) {
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
    add_conn(ROLE_SUB, 0, 0, "bench/lat");
    g->pubs[g->npubs++] = nconns;
    add_conn(ROLE_PUB, 0, 0, "bench/lat");
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
  default:
    fatal("unknown mode");
  }
}

/* Connects subscribers first (and waits for their SUBACKs) so that no published message
 * can miss them, then the rest; at most `max_pending` handshakes are in progress at once
 * so a 10k connection storm does not overflow the broker's listen backlog. */
static void run_setup(void) {
  double deadline = now_s() + opt.setup_timeout;
  int nsubs = 0;
  for (int i = 0; i < nconns; i++) nsubs += conns[i].role == ROLE_SUB;
  const int max_pending = 128;
  struct epoll_event evs[MAX_EVENTS];
  while (connected_count < nconns) {
    int limit = connected_count < nsubs ? nsubs : nconns;
    while (next_to_connect < limit && pending_connects < max_pending)
      start_connect(&conns[next_to_connect++]);
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

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double percentile(double p) {
  if (!nlat) return -1;
  size_t i = (size_t)(p * (double)(nlat - 1) + 0.5);
  return latencies[i];
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

static void close_all(void) {
  static const uint8_t disconnect[2] = {0xe0, 0};
  struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* RST: no TIME_WAIT eating local ports */
  for (int i = 0; i < nconns; i++) {
    if (conns[i].fd < 0) continue;
    if (write(conns[i].fd, disconnect, 2) < 0) { /* best effort */
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
  double p50 = -1, p99 = -1, p999 = -1, max = -1;
  if (nlat) {
    qsort(latencies, nlat, sizeof *latencies, compare_double);
    p50 = percentile(0.50);
    p99 = percentile(0.99);
    p999 = percentile(0.999);
    max = latencies[nlat - 1];
  }
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
          "usage: loadgen --mode fanin|fanout|qos1|latency|connections|puback --port P\n"
          "  --broker-pid PID [--durable 0|1] [--sub-port P] [--broker2-pid PID] [--qos 0|1]\n"
          "  [--host 127.0.0.1] [--clients N] [--window W] [--refill R] [--qos-window Q]\n"
          "  [--rate MSG_PER_S] [--payload BYTES] [--warmup S] [--duration S] [--drain S]\n"
          "  [--setup-timeout S] [--keepalive S] [--batch MSGS_PER_WRITE] [--tick-us US]\n"
          "  [--user-prefix U [--password-prefix P] [--users N]] (client i: U<i %% N>, P<i %% N>; N 0: all)\n");
  exit(2);
}

int main(int argc, char **argv) {
  static const char *modes[] = {"fanin", "fanout", "qos1", "latency", "connections", "puback"};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--mode")) {
      opt.mode = -1;
      for (int m = 0; m < 6; m++)
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
    else if (!strcmp(a, "--qos")) opt.pair_qos = atoi(v) != 0;
    else if (!strcmp(a, "--user-prefix")) opt.user_prefix = v;
    else if (!strcmp(a, "--password-prefix")) opt.password_prefix = v;
    else if (!strcmp(a, "--users")) opt.users = atoi(v);
    else usage();
  }
  if (opt.clients < 1 || opt.payload < 8 || opt.payload > 256 || opt.rate < 1 || !opt.broker_pid ||
      opt.batch < 1 || opt.batch > MAX_BATCH)
    usage();
  if (opt.window <= 0) opt.window = 4000;
  if (opt.refill <= 0) opt.refill = opt.window / 8 > 0 ? (int)(opt.window / 8) : 1;
  /* 10,000 clients need as many descriptors: raise the soft limit to the hard one */
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) fatal("epoll_create1: %s", strerror(errno));
  build();
  if (opt.mode == MODE_CONNECTIONS)
    run_connections();
  else
    run_traffic();
  return 0;
}
