/*
 * The generator's plumbing: /proc sampling, packet encoding, non-blocking sockets (plain or
 * TLS through loadgen_tls.c), publishing within the windows, and reading: fixed headers are
 * walked, deliveries counted and acknowledged, without decoding topics or payloads.
 */
#include "loadgen.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint8_t rbuf[READ_BUFFER];
static double *latencies;
static size_t nlat, lat_cap;
static uint64_t puback_sent_ns[65536]; /* puback mode: when each packet id was written */

/* Rate-paced modes: an open-loop publisher driven by a timerfd. */
int paced(void) { return opt.mode == MODE_LATENCY || opt.mode == MODE_PUBACK; }

void fatal(const char *fmt, ...) {
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

double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------- /proc sampling ---------- */

double proc_cpu_seconds(int pid) {
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

double self_cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds that all processes of the machine spent (user + nice + system, all cores), so
 * the load of other processes shows in the report. Interrupt time is left out: it is mostly
 * loopback TCP work of the benchmark itself, charged to no process. */
double machine_busy_seconds(void) {
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

long rss_kb(int pid) {
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

uint32_t put_varint(uint8_t *p, uint32_t v) {
  uint32_t n = 0;
  do {
    uint8_t b = v % 128;
    v /= 128;
    p[n++] = v ? (uint8_t)(b | 0x80) : b;
  } while (v);
  return n;
}

uint32_t put_string(uint8_t *p, const char *s) {
  size_t len = strlen(s);
  p[0] = (uint8_t)(len >> 8);
  p[1] = (uint8_t)len;
  memcpy(p + 2, s, len);
  return (uint32_t)(len + 2);
}

/* `index`: the client's number, which picks its username and password (if any). */
uint32_t encode_connect(uint8_t *p, const char *client_id, int clean, long index) {
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

uint32_t encode_subscribe(uint8_t *p, const char *filter, int qos) {
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
void encode_publish_batch(conn_t *c) {
  uint32_t tlen = (uint32_t)strlen(c->topic);
  uint32_t body = 2 + tlen + (c->qos ? 2 : 0) + (uint32_t)opt.payload;
  uint8_t *one = malloc((size_t)body + 8);
  if (!one) fatal("out of memory");
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
  free(one);
}

/* ---------- socket plumbing ---------- */

void watch(conn_t *c, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(c - conns)};
  if (epoll_ctl(epfd, op, c->fd, &ev) < 0) fatal("epoll_ctl: %s", strerror(errno));
}

/* One loopback source address has about 28,000 ephemeral ports towards one broker port, so
 * client `index` connects from 127.0.0.<1 + index / 25,000> (memory at 50,000 connections). */
#ifndef CLIENTS_PER_SOURCE /* a test build may set it lower to exercise the extra sources */
#define CLIENTS_PER_SOURCE 25000
#endif

void start_connect(conn_t *c, long index) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) fatal("socket: %s (raise ulimit -n)", strerror(errno));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
  inet_pton(AF_INET, opt.host, &sa.sin_addr);
  if (index >= CLIENTS_PER_SOURCE && (ntohl(sa.sin_addr.s_addr) >> 24) == 127) {
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(index / CLIENTS_PER_SOURCE))};
    /* the port is picked at connect(), per destination, not reserved at bind() */
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0)
      fatal("bind to a 127.0.0.x source address: %s", strerror(errno));
  }
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
    fatal("connect to %s:%d: %s", opt.host, c->port, strerror(errno));
  c->state = ST_TCP;
  pending_connects++;
  watch(c, EPOLLOUT, EPOLL_CTL_ADD);
}

static long io_write(conn_t *c, const uint8_t *p, uint32_t n) {
  return c->tls ? tls_write(c, p, n) : (long)write(c->fd, p, n);
}

static long io_read(conn_t *c, uint8_t *p, uint32_t n) {
  return c->tls ? tls_read(c, p, n) : (long)read(c->fd, p, n);
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

void send_bytes(conn_t *c, const uint8_t *p, uint32_t n) {
  if (c->write_blocked) {
    queue_out(c, p, n);
    return;
  }
  long w = io_write(c, p, n);
  if (w < 0) {
    if (errno != EAGAIN) fatal("write: %s", strerror(errno));
    w = 0;
  }
  if ((uint32_t)w < n) queue_out(c, p + w, n - (uint32_t)w);
}

static void flush_out(conn_t *c) {
  while (c->out_off < c->out_len) {
    long w = io_write(c, c->out + c->out_off, c->out_len - c->out_off);
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
void publish(conn_t *c, uint32_t n) {
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

uint64_t slowest_delivered(const group_t *g) {
  uint64_t m = UINT64_MAX;
  for (int i = 0; i < g->nsubs; i++)
    if (conns[g->subs[i]].delivered < m) m = conns[g->subs[i]].delivered;
  return m;
}

/* Sends what the windows allow. Refills wait until `refill` slots are free, so that a
 * trickle of deliveries does not turn into a trickle of one-message writes. */
void pump(void) {
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
void pace_latency(void) {
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

/* A PUBLISH whose first `have` bytes (fixed header of `hlen` bytes included) are here, of
 * `total` bytes in all: counted, acknowledged and timed as soon as its topic, packet id and
 * timestamp have arrived, so a 1 MB payload is skipped as it streams in instead of being
 * gathered (carrying it over from read to read would copy it many times). */
static int publish_head_complete(const uint8_t *pkt, uint32_t hlen, uint32_t have) {
  if (have < hlen + 2) return 0;
  uint32_t tlen = (uint32_t)pkt[hlen] << 8 | pkt[hlen + 1];
  uint32_t qos = (pkt[0] >> 1) & 3u;
  return have >= hlen + 2 + tlen + (qos ? 2 : 0) + 8;
}

/* Appends a 4-byte acknowledgement (PUBACK, PUBREC, PUBREL or PUBCOMP) to the pending
 * answers of one read(), which go back with one write(). */
static void add_ack(conn_t *c, uint8_t *acks, uint32_t *nacks, uint8_t type, const uint8_t *id) {
  uint8_t *a = acks + *nacks;
  a[0] = type;
  a[1] = 2;
  a[2] = id[0];
  a[3] = id[1];
  *nacks += 4;
  if (*nacks == 4 * 1024) {
    send_bytes(c, acks, *nacks);
    *nacks = 0;
  }
}

/* Returns how many bytes of buf[0..len) were used (the rest is carried over). */
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
    uint8_t type = buf[pos] >> 4;
    if (i + rl > len) {
      if (type != 3 || !publish_head_complete(buf + pos, i - pos, len - pos)) break;
      c->skip = i + rl - len; /* the rest of this PUBLISH: dropped by on_readable */
    }
    const uint8_t *body = buf + i;
    switch (type) {
    case 3: { /* PUBLISH */
      c->delivered++;
      uint32_t qos = (buf[pos] >> 1) & 3u;
      uint32_t tlen = (uint32_t)body[0] << 8 | body[1];
      if (qos) add_ack(c, acks, &nacks, qos == 1 ? 0x40 : 0x50, body + 2 + tlen);
      if (read_ns && rl >= 2 + tlen + (qos ? 2 : 0) + 8)
        record_latency(body + 2 + tlen + (qos ? 2 : 0), read_ns);
      break;
    }
    case 5: /* PUBREC: our QoS 2 PUBLISH was received; release it */
      if (rl >= 2) add_ack(c, acks, &nacks, 0x62, body);
      break;
    case 6: /* PUBREL of a QoS 2 delivery: complete it */
      if (rl >= 2) add_ack(c, acks, &nacks, 0x70, body);
      break;
    case 4: /* PUBACK */
    case 7: /* PUBCOMP */
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
      if (rl < 3) fatal("malformed SUBACK");
      for (uint32_t k = 2; k < rl; k++)
        if (body[k] == 0x80) fatal("subscription refused by broker");
      c->subacked++;
      if (c->state == ST_SUBACK) {
        c->state = ST_READY;
        connected_count++;
        if (c->offline_after) go_offline(c);
      }
      break;
    default:
      break;
    }
    if (c->skip) {
      pos = len;
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

/* One read(): skips what is left of a large PUBLISH, then scans whole packets. */
static void read_once(conn_t *c) {
  uint32_t have = c->carry_len;
  if (have) memcpy(rbuf, c->carry, have);
  long n = io_read(c, rbuf + have, sizeof rbuf - have);
  if (n == 0) fatal("broker closed a connection");
  if (n < 0) {
    if (errno == EAGAIN) return;
    fatal("read: %s", strerror(errno));
  }
  uint32_t total = have + (uint32_t)n, from = 0;
  if (c->skip) { /* set only when everything before was used: nothing was carried */
    from = c->skip < total ? (uint32_t)c->skip : total;
    c->skip -= from;
  }
  uint32_t used = from + scan(c, rbuf + from, total - from);
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

static void on_readable(conn_t *c) {
  read_once(c);
  /* TLS: records OpenSSL already took off the socket raise no further epoll event */
  while (c->tls && c->fd >= 0 && tls_pending(c) > 0) read_once(c);
}

void client_id(const conn_t *c, char *id, size_t size) {
  snprintf(id, size, "lg%d-%ld", (int)getpid(), (long)(c - conns));
}

static void send_connect(conn_t *c) {
  char id[48];
  uint8_t p[400];
  client_id(c, id, sizeof id);
  c->state = ST_CONNACK;
  watch(c, EPOLLIN, EPOLL_CTL_MOD);
  send_bytes(c, p, encode_connect(p, id, !c->durable, (long)(c - conns)));
}

static void on_connected(conn_t *c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) fatal("connect to %s:%d: %s", opt.host, c->port, strerror(err));
  if (opt.tls) {
    c->state = ST_TLS;
    tls_attach(c);
    if (tls_handshake(c)) send_connect(c);
    return;
  }
  send_connect(c);
}

void handle_event(struct epoll_event *ev) {
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
  if (c->state == ST_TLS) {
    if (tls_handshake(c)) send_connect(c);
    return;
  }
  if (ev->events & EPOLLOUT) flush_out(c);
  if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double percentile(double p) {
  size_t i = (size_t)(p * (double)(nlat - 1) + 0.5);
  return latencies[i];
}

/* Percentiles of the latencies recorded in the measured window, in microseconds (-1: none). */
void latency_results(double *p50, double *p99, double *p999, double *max, size_t *count) {
  *p50 = *p99 = *p999 = *max = -1;
  *count = nlat;
  if (!nlat) return;
  qsort(latencies, nlat, sizeof *latencies, compare_double);
  *p50 = percentile(0.50);
  *p99 = percentile(0.99);
  *p999 = percentile(0.999);
  *max = latencies[nlat - 1];
}
