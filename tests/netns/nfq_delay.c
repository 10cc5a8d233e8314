/* nfq_delay.c — delay and reorder packets without sch_netem: takes the packets of one NFQUEUE
 * (iptables ... -j NFQUEUE --queue-num N in the same network namespace), holds each for
 * DELAY ± JITTER microseconds (uniform), holds REORDER percent of them 2 × DELAY longer so
 * that later packets overtake them, then accepts them. Used by tests/netns/torture.py's loss
 * scenarios (loss itself is an nftables numgen rule).
 *
 * usage: nfq_delay [--queue N] [--delay-us 2000] [--jitter-us 1000] [--reorder 25] [--seed S]
 * Runs until SIGTERM/SIGINT, then accepts everything it holds and prints one line of counts.
 * The queue is fail-open: when it is full the kernel accepts packets instead of dropping them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

struct held {
  int64_t due_ns;
  uint32_t id;
};

static struct held *heap;
static size_t heap_len, heap_cap;
static long delay_us = 2000, jitter_us = 1000, reorder_pct = 25;
static uint64_t rng = 0x2545F4914F6CDD1Dull;
static unsigned long packets, reordered, overflow;
static volatile sig_atomic_t stop;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t next_rand(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ull;
}

static void push(struct held h) {
  if (heap_len == heap_cap) {
    size_t cap = heap_cap ? heap_cap * 2 : 1024;
    struct held *p = realloc(heap, cap * sizeof *p);
    if (!p) abort();
    heap = p;
    heap_cap = cap;
  }
  size_t i = heap_len++;
  while (i > 0 && heap[(i - 1) / 2].due_ns > h.due_ns) {
    heap[i] = heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  heap[i] = h;
}

static struct held pop(void) {
  struct held top = heap[0], last = heap[--heap_len];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= heap_len) break;
    if (c + 1 < heap_len && heap[c + 1].due_ns < heap[c].due_ns) c++;
    if (heap[c].due_ns >= last.due_ns) break;
    heap[i] = heap[c];
    i = c;
  }
  if (heap_len > 0) heap[i] = last;
  return top;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                     void *data) {
  (void)qh;
  (void)msg;
  (void)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (!ph) return 0;
  long d = delay_us - jitter_us + (long)(next_rand() % (uint64_t)(2 * jitter_us + 1));
  if ((long)(next_rand() % 100) < reorder_pct) {
    d += 2 * delay_us;
    reordered++;
  }
  packets++;
  push((struct held){now_ns() + (int64_t)d * 1000, ntohl(ph->packet_id)});
  return 0;
}

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"queue", required_argument, 0, 'q'},
                                       {"delay-us", required_argument, 0, 'd'},
                                       {"jitter-us", required_argument, 0, 'j'},
                                       {"reorder", required_argument, 0, 'r'},
                                       {"seed", required_argument, 0, 's'},
                                       {0, 0, 0, 0}};
  int queue = 0, c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'q': queue = atoi(optarg); break;
      case 'd': delay_us = atol(optarg); break;
      case 'j': jitter_us = atol(optarg); break;
      case 'r': reorder_pct = atol(optarg); break;
      case 's': rng ^= strtoull(optarg, NULL, 10) * 0x9E3779B97F4A7C15ull; break;
      default:
        fprintf(stderr, "usage: nfq_delay [--queue N] [--delay-us US] [--jitter-us US] "
                        "[--reorder PCT] [--seed S]\n");
        return 2;
    }
  }
  if (rng == 0) rng = 1;
  if (jitter_us > delay_us) jitter_us = delay_us;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  struct nfq_handle *h = nfq_open();
  if (!h) {
    perror("nfq_open");
    return 1;
  }
  struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
  if (!qh) {
    perror("nfq_create_queue");
    return 1;
  }
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) perror("nfq_set_mode");
  nfq_set_queue_maxlen(qh, 8192);
  nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  int fd = nfq_fd(h);
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  printf("ready queue %d\n", queue);
  fflush(stdout);

  char buf[65536];
  while (!stop) {
    int64_t t = now_ns();
    while (heap_len > 0 && heap[0].due_ns <= t) {
      struct held p = pop();
      nfq_set_verdict(qh, p.id, NF_ACCEPT, 0, NULL);
    }
    int timeout = 100;
    if (heap_len > 0) {
      int64_t wait_us = (heap[0].due_ns - t) / 1000;
      timeout = wait_us <= 0 ? 0 : (int)((wait_us + 999) / 1000);
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    /* poll has ms granularity: sleep less than that and spin on the last stretch */
    if (timeout > 0 && heap_len > 0 && timeout <= 1) {
      struct timespec ts = {0, 200000};
      if (poll(&pfd, 1, 0) <= 0) {
        nanosleep(&ts, NULL);
        continue;
      }
    } else if (poll(&pfd, 1, timeout) <= 0) {
      continue;
    }
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == ENOBUFS) {
          overflow++;
          continue;
        }
        break;
      }
      nfq_handle_packet(h, buf, (int)n);
    }
  }
  while (heap_len > 0) nfq_set_verdict(qh, pop().id, NF_ACCEPT, 0, NULL);
  printf("nfq_delay: %lu packets, %lu held longer (reordered), %lu receive overflows\n",
         packets, reordered, overflow);
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
