/*
 * Shared declarations of the load generator (loadgen.c: options, set-up and the traffic and
 * connections modes; loadgen_io.c: /proc sampling, packet encoding, sockets and reading;
 * loadgen_tls.c: OpenSSL under the same socket calls; loadgen_scale.c: the subscription and
 * retained-message scale modes). See loadgen.c for what the modes measure and why it is C.
 */
#ifndef LOADGEN_H
#define LOADGEN_H
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#define MAX_BATCH 64 /* messages per publisher write(), at most */
#define BURST 64     /* messages per publisher per loop turn, at most */
#define READ_BUFFER (256 * 1024) /* one shared read buffer; a read takes at most this */
#define MAX_EVENTS 1024
#define TIMER_TAG (-1)
#define MAX_PAYLOAD (16 * 1024 * 1024)
#define MAX_FILTERS_PER_SUBSCRIBE 100

/* ROLE_BARE: connects and gets its CONNACK, then the scale modes drive it by hand. */
enum { ROLE_PUB = 1, ROLE_SUB = 2, ROLE_IDLE = 3, ROLE_BARE = 4 };
enum { ST_TCP, ST_TLS, ST_CONNACK, ST_SUBACK, ST_READY };
enum {
  MODE_FANIN,
  MODE_FANOUT,
  MODE_QOS1,
  MODE_LATENCY,
  MODE_CONNECTIONS,
  MODE_PUBACK,
  MODE_SUBS,
  MODE_RETAINED,
  MODE_COUNT
};
enum { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };

typedef struct {
  int fd, port;
  uint8_t role, state, qos, write_blocked;
  uint8_t durable;       /* CONNECT with clean session 0 */
  uint8_t offline_after; /* subscriber: DISCONNECT and close once its SUBACK arrived */
  int group;
  char topic[64];
  void *tls; /* SSL * when --tls */
  /* bytes of an incomplete packet left over from the previous read */
  uint8_t *carry;
  uint32_t carry_len, carry_cap;
  /* the unread rest of a large PUBLISH already counted (its payload is skipped, not kept) */
  uint64_t skip;
  /* bytes the kernel did not accept yet (EPOLLOUT pending) */
  uint8_t *out;
  uint32_t out_len, out_off, out_cap;
  /* publisher: `batch` pre-encoded PUBLISH packets back to back */
  uint8_t *batch;
  uint32_t msg_len, pid_off, ts_off;
  uint16_t next_pid;
  uint32_t inflight;
  uint64_t sent, acked, delivered, subacked;
} conn_t;

typedef struct {
  int *pubs, npubs, *subs, nsubs, rotate;
  uint64_t sent;
} group_t;

typedef struct {
  double wall, self_cpu, broker_cpu, broker2_cpu, machine_busy;
  uint64_t delivered, acked, sent;
} snapshot_t;

struct options {
  const char *host;
  int port, mode, broker_pid, batch, clients, payload, rate, qos_window, refill, keepalive, tick_us;
  int durable, sub_port, broker2_pid, pair_qos, users;
  long window;
  /* --user-prefix/--password-prefix: client i logs in as <user-prefix><i % users> with the
   * password <password-prefix><i % users> (bench/dynsec.ts); unset: no username, as before */
  const char *user_prefix, *password_prefix;
  /* --tls 1.2|1.3: every client speaks TLS of exactly that version (0: plain TCP) */
  int tls;
  /* scale modes: how many subscriptions / retained messages; --wildcards 1: filters end in
   * + or # instead of being the exact topics */
  long count;
  int wildcards;
  double warmup, duration, drain, setup_timeout;
};

extern struct options opt;
extern conn_t *conns;
extern int nconns;
extern group_t *groups;
extern int ngroups;
extern int epfd, timer_fd;
extern int phase;
extern int measuring_latency;
extern double lat_t0;
extern uint64_t lat_sent;
extern int pending_connects, next_to_connect, connected_count;

/* loadgen_io.c */
void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
double now_s(void);
uint64_t now_ns(void);
double proc_cpu_seconds(int pid);
double self_cpu_seconds(void);
double machine_busy_seconds(void);
long rss_kb(int pid);
uint32_t put_varint(uint8_t *p, uint32_t v);
uint32_t put_string(uint8_t *p, const char *s);
uint32_t encode_connect(uint8_t *p, const char *client_id, int clean, long index);
uint32_t encode_subscribe(uint8_t *p, const char *filter, int qos);
void encode_publish_batch(conn_t *c);
void watch(conn_t *c, uint32_t events, int op);
void start_connect(conn_t *c, long index);
void send_bytes(conn_t *c, const uint8_t *p, uint32_t n);
void publish(conn_t *c, uint32_t n);
uint64_t slowest_delivered(const group_t *g);
void pump(void);
void pace_latency(void);
void handle_event(struct epoll_event *ev);
void client_id(const conn_t *c, char *id, size_t size);
int paced(void);
void latency_results(double *p50, double *p99, double *p999, double *max, size_t *count);

/* loadgen_tls.c: all return like read()/write() (-1 with errno EAGAIN when they would block) */
void tls_init(int version);
void tls_attach(conn_t *c);
/* 1: handshake done; 0: in progress (waits for the socket); fatal on failure */
int tls_handshake(conn_t *c);
long tls_read(conn_t *c, uint8_t *buf, uint32_t n);
long tls_write(conn_t *c, const uint8_t *p, uint32_t n);
/* Bytes already decrypted and waiting inside OpenSSL (no epoll event will announce them). */
int tls_pending(conn_t *c);
void tls_close(conn_t *c);

/* loadgen.c */
conn_t *add_conn(int role, int group, int qos, const char *topic);
void run_setup(void);
void close_all(void);

/* loadgen_scale.c */
void build_scale(void);
void run_scale(void);
#endif
