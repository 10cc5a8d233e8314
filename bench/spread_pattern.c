/* spread_pattern.c — the baseline of bench/sp_bench: a minimal client of Spread's protocol that
 * makes the system calls Spread 5.0.1's libspread makes per message, written for this benchmark
 * (Spread's library is not in Debian's archive, so it cannot be measured here).
 *
 * What it copies from Spread's library is the I/O pattern, read from its source:
 *   - a blocking socket, TCP_NODELAY on TCP;
 *   - a send is one send() of the 48-byte header with the group names, then one send() per
 *     scatter element (here: one);
 *   - a receive is one recv() loop for the header, one for the group names and one for the body,
 *     each straight into the caller's buffers.
 * What it leaves out costs Spread's library more, not less: its session table and locks, the
 * short-buffer rules, membership parsing and byte-order handling. Only what the benchmark calls
 * exists, and it trusts the daemon: this is a measuring stick, not a client library.
 */
#include "spread_pattern.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

enum { HEADER_BYTES = 48, NAME_BYTES = 32 };
static const uint32_t ENDIAN_MARK = 0x80000080u;
static const uint32_t JOIN = 0x00010000u, KILL = 0x00040000u;

static char Private_group[NAME_BYTES];

static int send_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static int recv_all(int fd, void *p, size_t n) {
  char *c = p;
  while (n > 0) {
    ssize_t r = recv(fd, c, n, 0);
    if (r <= 0) return -1;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

static void put32(char *p, uint32_t v) { memcpy(p, &v, 4); } /* little-endian hosts only */

static uint32_t get32(const char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static void header(char *h, uint32_t type, int num_groups, int16_t mess_type, int data_len) {
  memset(h, 0, HEADER_BYTES);
  put32(h, type | ENDIAN_MARK);
  memcpy(h + 4, Private_group, strlen(Private_group));
  put32(h + 36, (uint32_t)num_groups);
  put32(h + 40, ((((uint32_t)(uint16_t)mess_type) << 8) & 0x00ffff00u) | ENDIAN_MARK);
  put32(h + 44, (uint32_t)data_len);
}

int spp_connect(const char *where, const char *name, int *mbox, char *private_group) {
  int fd;
  unsigned port = 0;
  char host[64] = "";
  if (where[0] == '/') {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", where);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -2;
  } else if (sscanf(where, "%u@%63s", &port, host) == 2) {
    struct sockaddr_in a;
    int one = 1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return -1;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -2;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  } else {
    return -1;
  }
  size_t n = strlen(name);
  char hello[5 + 10];
  char methods[256];
  char choice[90];
  unsigned char accept[5];
  hello[0] = 5, hello[1] = 0, hello[2] = 1, hello[3] = 1, hello[4] = (char)n;
  memcpy(hello + 5, name, n);
  memset(choice, 0, sizeof choice);
  memcpy(choice, "NULL", 4);
  signed char len;
  if (send_all(fd, hello, 5 + n) != 0 || recv_all(fd, &len, 1) != 0 || len < 0 ||
      recv_all(fd, methods, (size_t)len) != 0 || send_all(fd, choice, sizeof choice) != 0 ||
      recv_all(fd, accept, 5) != 0 || accept[0] != 1 || accept[4] >= NAME_BYTES ||
      recv_all(fd, Private_group, accept[4]) != 0) {
    close(fd);
    return -8;
  }
  Private_group[accept[4]] = '\0';
  memcpy(private_group, Private_group, NAME_BYTES);
  *mbox = fd;
  return 1;
}

static int request(int mbox, uint32_t type, const char *group) {
  char frame[HEADER_BYTES + NAME_BYTES];
  header(frame, type, 1, 0, 0);
  memset(frame + HEADER_BYTES, 0, NAME_BYTES);
  memcpy(frame + HEADER_BYTES, group, strlen(group));
  return send_all(mbox, frame, sizeof frame) == 0 ? 0 : -8;
}

int spp_join(int mbox, const char *group) { return request(mbox, JOIN, group); }

int spp_disconnect(int mbox) {
  int r = request(mbox, KILL, Private_group);
  close(mbox);
  return r;
}

int spp_multicast(int mbox, int service, const char *group, int16_t mess_type, int mess_len,
                  const char *mess) {
  char frame[HEADER_BYTES + NAME_BYTES];
  header(frame, (uint32_t)service, 1, mess_type, mess_len);
  memset(frame + HEADER_BYTES, 0, NAME_BYTES);
  memcpy(frame + HEADER_BYTES, group, strlen(group));
  if (send_all(mbox, frame, sizeof frame) != 0) return -8;
  if (mess_len > 0 && send_all(mbox, mess, (size_t)mess_len) != 0) return -8;
  return mess_len;
}

int spp_receive(int mbox, int *service, char sender[32], int max_groups, int *num_groups,
                char groups[][32], int16_t *mess_type, int max_mess_len, char *mess) {
  char h[HEADER_BYTES];
  if (recv_all(mbox, h, sizeof h) != 0) return -8;
  uint32_t type = get32(h) & ~ENDIAN_MARK;
  int n = (int)get32(h + 36);
  int len = (int)get32(h + 44);
  if (n < 0 || n > max_groups || len < 0 || len > max_mess_len) return -15;
  memcpy(sender, h + 4, NAME_BYTES);
  sender[NAME_BYTES - 1] = '\0';
  if (recv_all(mbox, groups, (size_t)n * NAME_BYTES) != 0) return -8;
  if (len > 0 && recv_all(mbox, mess, (size_t)len) != 0) return -8;
  *service = (int)type;
  *num_groups = n;
  *mess_type = (int16_t)((get32(h + 40) >> 8) & 0xffff);
  return len;
}
