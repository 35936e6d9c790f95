/*
 * TLS for the generator's clients (--tls 1.2|1.3): OpenSSL on the same non-blocking sockets
 * and epoll loop. Each client does a full handshake of exactly the requested version; the
 * broker's certificate is not verified (the bench makes a throwaway one per run). Built with
 * -DLOADGEN_TLS -lssl -lcrypto when OpenSSL's headers are installed (Debian: libssl-dev);
 * otherwise --tls fails with a message saying so.
 */
#include "loadgen.h"
#include <errno.h>

#ifdef LOADGEN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>

static SSL_CTX *ctx;

static const char *ssl_error_text(void) {
  static char text[256];
  unsigned long code = ERR_get_error();
  if (!code) return "no OpenSSL error queued";
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

void tls_init(int version) {
  ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) fatal("SSL_CTX_new: %s", ssl_error_text());
  int v = version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(ctx, v);
  SSL_CTX_set_max_proto_version(ctx, v);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  /* a write may take part of the buffer; a retry may start from a moved copy of the rest */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

void tls_attach(conn_t *c) {
  SSL *ssl = SSL_new(ctx);
  if (!ssl || SSL_set_fd(ssl, c->fd) != 1) fatal("SSL_new: %s", ssl_error_text());
  SSL_set_connect_state(ssl);
  c->tls = ssl;
}

int tls_handshake(conn_t *c) {
  int r = SSL_do_handshake(c->tls);
  if (r == 1) return 1;
  int e = SSL_get_error(c->tls, r);
  if (e == SSL_ERROR_WANT_READ) watch(c, EPOLLIN, EPOLL_CTL_MOD);
  else if (e == SSL_ERROR_WANT_WRITE) watch(c, EPOLLOUT, EPOLL_CTL_MOD);
  else fatal("TLS handshake failed (%d): %s", e, ssl_error_text());
  return 0;
}

/* Reads as many decrypted bytes as fit (one SSL_read returns one record at most). */
long tls_read(conn_t *c, uint8_t *buf, uint32_t n) {
  long total = 0;
  while ((uint32_t)total < n) {
    int r = SSL_read(c->tls, buf + total, (int)(n - (uint32_t)total));
    if (r > 0) {
      total += r;
      continue;
    }
    int e = SSL_get_error(c->tls, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
    if (e == SSL_ERROR_ZERO_RETURN) return total ? total : 0;
    if (total) break;
    fatal("TLS read failed (%d): %s", e, ssl_error_text());
  }
  if (total) return total;
  errno = EAGAIN;
  return -1;
}

long tls_write(conn_t *c, const uint8_t *p, uint32_t n) {
  int r = SSL_write(c->tls, p, (int)n);
  if (r > 0) return r;
  int e = SSL_get_error(c->tls, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  fatal("TLS write failed (%d): %s", e, ssl_error_text());
}

int tls_pending(conn_t *c) { return SSL_pending(c->tls); }

void tls_close(conn_t *c) {
  if (!c->tls) return;
  SSL_free(c->tls);
  c->tls = NULL;
}

#else

void tls_init(int version) {
  (void)version;
  fatal("loadgen was built without OpenSSL; install its headers (apt-get install libssl-dev)");
}
void tls_attach(conn_t *c) { (void)c; }
int tls_handshake(conn_t *c) { (void)c; return 1; }
long tls_read(conn_t *c, uint8_t *buf, uint32_t n) { (void)c; (void)buf; (void)n; return -1; }
long tls_write(conn_t *c, const uint8_t *p, uint32_t n) { (void)c; (void)p; (void)n; return -1; }
int tls_pending(conn_t *c) { (void)c; return 0; }
void tls_close(conn_t *c) { (void)c; }

#endif
