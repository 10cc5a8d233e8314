/* sp_bench.c — one side of bench/sp_bench.py: Spread's C API under load, through Chorus's library
 * (sp.h, libchorus) or through the baseline (spread_pattern.c: Spread's library's system calls).
 *
 *   sp_bench chorus|pattern send SPREAD GROUP COUNT BYTES MEMBERS WINDOW
 *     joins GROUP, waits until it has MEMBERS members, sends COUNT AGREED messages of BYTES
 *     bytes with at most WINDOW of its own not yet delivered back to it (Spread's flooder),
 *     and prints "sent COUNT in SECONDS s cpu MICROSECONDS us/message" (first send to last own
 *     delivery; the process's CPU time over the run, per message);
 *   sp_bench chorus|pattern recv SPREAD GROUP COUNT BYTES
 *     joins GROUP, prints "joined", waits for a line on stdin (the script sends it once the
 *     sender is done, so everything is waiting for it), receives until COUNT data messages
 *     arrived and prints "received COUNT in SECONDS s cpu MICROSECONDS us/message" (first to
 *     last: the library draining its mailbox, without a wake-up per message).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sp.h>

#include "spread_pattern.h"

enum { MAX_GROUPS = 16, BUFFER = 1 << 20 };

static int Pattern; /* 1: the baseline, 0: Chorus's sp.h */
static mailbox Mbox;
static char Private_group[MAX_GROUP_NAME];
static char Groups[MAX_GROUPS][MAX_GROUP_NAME];
static char *Buffer;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* This process's CPU time (user and system) in microseconds. */
static double cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
         (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static void die(const char *what, int code) {
  fprintf(stderr, "sp_bench: %s failed: %d (%s)\n", what, code, SP_strerror(code));
  exit(1);
}

/* One message: its service, and how many groups a membership message lists. */
static service receive(int *num_groups);

/* Whether the next message is a data message (Is_regular_mess evaluates its argument twice). */
static int receive_data(void) {
  int n;
  service t = receive(&n);
  return Is_regular_mess(t);
}

static service receive(int *num_groups) {
  char sender[MAX_GROUP_NAME];
  int16 mess_type;
  int endian, ret;
  service type = 0;
  if (Pattern) {
    int16_t mt;
    ret = spp_receive(Mbox, &type, sender, MAX_GROUPS, num_groups, Groups, &mt, BUFFER, Buffer);
  } else {
    ret = SP_receive(Mbox, &type, sender, MAX_GROUPS, num_groups, Groups, &mess_type, &endian,
                     BUFFER, Buffer);
  }
  if (ret < 0) die("receive", ret);
  return type;
}

static void join(const char *group) {
  int r = Pattern ? spp_join(Mbox, group) : SP_join(Mbox, group);
  if (r < 0) die("join", r);
}

static void wait_for_members(int members) {
  int n = 0;
  for (;;) {
    service t = receive(&n);
    if (Is_reg_memb_mess(t) && n >= members) return;
  }
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr,
            "usage: sp_bench chorus|pattern send SPREAD GROUP COUNT BYTES MEMBERS WINDOW\n"
            "       sp_bench chorus|pattern recv SPREAD GROUP COUNT BYTES\n");
    return 2;
  }
  Pattern = strcmp(argv[1], "pattern") == 0;
  const int sending = strcmp(argv[2], "send") == 0;
  const char *spread = argv[3], *group = argv[4];
  const long count = atol(argv[5]);
  const int bytes = atoi(argv[6]);
  if ((!Pattern && strcmp(argv[1], "chorus") != 0) || count <= 0 || bytes < 0 ||
      bytes > BUFFER || (sending && argc < 9)) {
    fprintf(stderr, "sp_bench: bad arguments\n");
    return 2;
  }
  Buffer = calloc(1, BUFFER);
  char name[16];
  snprintf(name, sizeof name, "%c%ld", sending ? 's' : 'r', (long)(now() * 1000) % 100000000);
  int r = Pattern ? spp_connect(spread, name, &Mbox, Private_group)
                  : SP_connect(spread, name, 0, 1, &Mbox, Private_group);
  if (r != ACCEPT_SESSION) die("connect", r);
  join(group);
  long got = 0;
  double first = 0, cpu_first = 0;
  if (!sending) {
    wait_for_members(1);
    printf("joined\n");
    fflush(stdout);
    char go[16];
    if (fgets(go, sizeof go, stdin) == NULL) return 1;
    while (got < count) {
      if (receive_data() && got++ == 0) {
        first = now();
        cpu_first = cpu_us();
      }
    }
    printf("received %ld in %.6f s cpu %.3f us/message\n", got, now() - first,
           (cpu_us() - cpu_first) / (double)(got - 1 > 0 ? got - 1 : 1));
  } else {
    const int members = atoi(argv[7]);
    const long window = atol(argv[8]);
    wait_for_members(members);
    first = now();
    cpu_first = cpu_us();
    for (long sent = 0; sent < count; ++sent) {
      r = Pattern ? spp_multicast(Mbox, AGREED_MESS, group, 1, bytes, Buffer)
                  : SP_multicast(Mbox, AGREED_MESS, group, 1, bytes, Buffer);
      if (r != bytes) die("multicast", r);
      while (sent + 1 - got >= window) {
        got += receive_data();
      }
    }
    while (got < count) {
      got += receive_data();
    }
    printf("sent %ld in %.6f s cpu %.3f us/message\n", count, now() - first,
           (cpu_us() - cpu_first) / (double)count);
  }
  fflush(stdout);
  if (Pattern) spp_disconnect(Mbox);
  else SP_disconnect(Mbox);
  free(Buffer);
  return 0;
}
