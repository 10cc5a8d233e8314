/* torture_client.c — one client of the fault torture suite (tests/netns/torture.py). Uses only
 * sp.h. It connects with membership messages on, joins its groups, and then, until a deadline,
 * receives everything that arrives and multicasts at a given rate with a mix of services, sizes
 * and destinations, optionally churning (leave and rejoin, disconnect or SP_kill and reconnect
 * under a new name, exit early). Every event is one JSON line in the log; torture_check.py reads
 * the logs of all clients of a run and checks the group communication guarantees offline.
 *
 * Payload of message k of connection P (its private group):
 *   "T1|<P>|<k>|<service>|<g1,g2,...>|<size>|<fnv>\n" then filler up to <size> bytes,
 * where <fnv> is 16 hex digits of FNV-1a-64 over the header up to and including the last '|'
 * followed by the filler, and the filler is a xorshift stream seeded by P and k.
 *
 * Log lines (all have "t": CLOCK_MONOTONIC in ns and "c": the connection's private group, ""
 * before the first connect):
 *   connect {daemon,name} | connect_failed {ret} | join {g} | leave {g}
 *   send {ctr,svc,groups,size,sum,sd} | send_failed {ctr,ret}
 *   recv {from,svc,groups,size,got,ctr,hsvc,hgroups,hfrom,ok,trunc,gcut}
 *   memb {g,gid,members,vs,cause} | trans {g,gid} | selfleave {g}
 *   disconnect {how: disconnect|kill|closed|end|exit} | error {what,ret} | final {} | exit {}
 *
 * usage: torture_client --daemon SPEC --name NAME --groups G1,G2 [--other G3,...]
 *          [--rate MSGS_PER_S] [--seconds S | --send-until MONO_S --exit-at MONO_S]
 *          [--seed N] --log PATH [--drop-recv | --grow] [--churn MEAN_S] [--churn-exit]
 *          [--max-size BYTES] [--lifetime S]
 *
 * At --send-until it stops sending and churning (rejoining what it had left); at --exit-at it
 * logs "final" (its views then are the end of the run), lingers 0.7 s without reading, and
 * disconnects. --lifetime S: a short-lived client that SP_disconnects or SP_kills after S
 * seconds and exits, without a "final". SIGTERM ends it early (still with "final").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sp.h>

#define MAX_MY_GROUPS 16
#define MAX_PEERS 64
#define DROP_BUFFER (16 * 1024)

/* ---- options and state ---- */

static const char *daemon_spec;
static const char *base_name;
static char my_groups[MAX_MY_GROUPS][MAX_GROUP_NAME];
static int n_my_groups;
static char other_groups[MAX_MY_GROUPS][MAX_GROUP_NAME];
static int n_other_groups;
static double rate = 10.0;
static int64_t send_until_ns, exit_at_ns;
static uint64_t rng_state = 88172645463325252ull;
static int drop_recv_mode = 1;
static double churn_mean_s;
static int churn_exit;
static int max_size = 100 * 1024;
static double lifetime_s; /* > 0: a short-lived client, gone after this long (no "final") */

static FILE *logf;
static int64_t last_flush_ns;
static volatile sig_atomic_t stop_requested;

static mailbox mbox = -1;
static int connected;
static int generation;
static char private_group[MAX_GROUP_NAME];
static unsigned long counter;
static int in_group[MAX_MY_GROUPS];         /* 1 while joined (from our own requests) */
static int64_t rejoin_at[MAX_MY_GROUPS];    /* 0: no rejoin pending */
static char peers[MAX_PEERS][MAX_GROUP_NAME]; /* private groups seen in views */
static int n_peers;

static char *rbuf;
static int rbuf_len;
static char (*rgroups)[MAX_GROUP_NAME];
static int rgroups_len;

/* ---- small helpers ---- */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t next_rand(void) {
  uint64_t x = rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 2685821657736338717ull;
}

static double uniform(void) { return (double)(next_rand() >> 11) / 9007199254740992.0; }

static uint64_t fnv_step(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ull;
  }
  return h;
}

#define FNV_INIT 14695981039346656037ull

static void fill(char *dst, size_t n, const char *sender, unsigned long ctr) {
  uint64_t x = fnv_step(FNV_INIT, sender, strlen(sender)) ^ (ctr * 0x9E3779B97F4A7C15ull);
  if (x == 0) x = 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    dst[i] = (char)('a' + (x % 26));
  }
}

/* ---- the log ---- */

static void json_str(const char *s) {
  fputc('"', logf);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      fputc('\\', logf);
      fputc(ch, logf);
    } else if (ch < 0x20 || ch >= 0x7f) {
      fprintf(logf, "\\u%04x", ch);
    } else {
      fputc(ch, logf);
    }
  }
  fputc('"', logf);
}

static void json_names(char (*names)[MAX_GROUP_NAME], int n) {
  fputc('[', logf);
  for (int i = 0; i < n; i++) {
    char tmp[MAX_GROUP_NAME + 1];
    memcpy(tmp, names[i], MAX_GROUP_NAME);
    tmp[MAX_GROUP_NAME] = 0;
    if (i) fputc(',', logf);
    json_str(tmp);
  }
  fputc(']', logf);
}

/* Starts a line: {"t":..,"c":"..","ev":"<ev>" — the caller adds fields and calls end_line. */
static void begin_line(const char *ev) {
  fprintf(logf, "{\"t\":%lld,\"c\":", (long long)now_ns());
  json_str(private_group);
  fprintf(logf, ",\"ev\":\"%s\"", ev);
}

static void end_line(int flush_now) {
  fputs("}\n", logf);
  int64_t t = now_ns();
  if (flush_now || t - last_flush_ns > 200000000) {
    fflush(logf);
    last_flush_ns = t;
  }
}

static void log_simple(const char *ev, const char *key, const char *value, int flush_now) {
  begin_line(ev);
  if (key) {
    fprintf(logf, ",\"%s\":", key);
    json_str(value);
  }
  end_line(flush_now);
}

static void log_error(const char *what, int ret) {
  begin_line("error");
  fputs(",\"what\":", logf);
  json_str(what);
  fprintf(logf, ",\"ret\":%d", ret);
  end_line(1);
}

/* ---- connection management ---- */

static int connect_once(void) {
  char name[MAX_PRIVATE_NAME + 1];
  if (generation == 0)
    snprintf(name, sizeof name, "%s", base_name);
  else
    snprintf(name, sizeof name, "%sr%d", base_name, generation);
  generation++;
  int ret = SP_connect_timeout(daemon_spec, name, 0, 1, &mbox, private_group,
                               (sp_time){5, 0});
  if (ret != ACCEPT_SESSION) {
    private_group[0] = 0;
    begin_line("connect_failed");
    fputs(",\"name\":", logf);
    json_str(name);
    fprintf(logf, ",\"ret\":%d", ret);
    end_line(1);
    return 0;
  }
  connected = 1;
  counter = 0;
  begin_line("connect");
  fputs(",\"daemon\":", logf);
  json_str(daemon_spec);
  fputs(",\"name\":", logf);
  json_str(name);
  end_line(1);
  for (int i = 0; i < n_my_groups; i++) {
    log_simple("join", "g", my_groups[i], 1);
    int r = SP_join(mbox, my_groups[i]);
    if (r < 0) log_error("join", r);
    in_group[i] = 1;
    rejoin_at[i] = 0;
  }
  return 1;
}

/* Tries to connect until it works or the exit deadline passes. */
static void connect_retrying(void) {
  while (!connect_once()) {
    if (stop_requested || now_ns() > exit_at_ns) return;
    usleep(300000);
  }
}

static void drop_connection(const char *how) {
  if (!connected) return;
  if (strcmp(how, "kill") == 0)
    SP_kill(mbox);
  else if (strcmp(how, "closed") != 0)
    SP_disconnect(mbox);
  else
    SP_kill(mbox); /* the daemon is gone: just release our end */
  log_simple("disconnect", "how", how, 1);
  connected = 0;
  mbox = -1;
}

/* ---- sending ---- */

static int pick_service(void) {
  int r = (int)(next_rand() % 100);
  if (r < 35) return AGREED_MESS;
  if (r < 55) return SAFE_MESS;
  if (r < 70) return FIFO_MESS;
  if (r < 85) return RELIABLE_MESS;
  return CAUSAL_MESS;
}

static int pick_size(void) {
  int r = (int)(next_rand() % 100), s;
  if (r < 70)
    s = 48 + (int)(next_rand() % 464);
  else if (r < 90)
    s = 512 + (int)(next_rand() % 7680);
  else if (r < 98)
    s = 8192 + (int)(next_rand() % 24576);
  else
    s = 32768 + (int)(next_rand() % (100 * 1024 - 32768));
  return s > max_size ? max_size : s;
}

static int add_unique(char (*dst)[MAX_GROUP_NAME], int n, const char *g) {
  for (int i = 0; i < n; i++)
    if (strncmp(dst[i], g, MAX_GROUP_NAME) == 0) return n;
  snprintf(dst[n], MAX_GROUP_NAME, "%s", g);
  return n + 1;
}

static void send_one(void) {
  char dest[4][MAX_GROUP_NAME];
  int nd = 0;
  int joined[MAX_MY_GROUPS], nj = 0;
  for (int i = 0; i < n_my_groups; i++)
    if (in_group[i]) joined[nj++] = i;
  int r = (int)(next_rand() % 100);
  if (r < 10 && (n_other_groups > 0 || nj < n_my_groups)) {
    /* open-group send: a group we are not in right now */
    if (n_other_groups > 0 && (nj == n_my_groups || next_rand() % 2))
      nd = add_unique(dest, nd, other_groups[next_rand() % n_other_groups]);
    else
      for (int i = 0; i < n_my_groups; i++)
        if (!in_group[i]) {
          nd = add_unique(dest, nd, my_groups[i]);
          break;
        }
  } else if (r < 15 && n_peers > 0) {
    nd = add_unique(dest, nd, peers[next_rand() % n_peers]);
    if (nj > 0 && next_rand() % 2) nd = add_unique(dest, nd, my_groups[joined[next_rand() % nj]]);
  } else if (r < 35 && nj >= 2) {
    int a = (int)(next_rand() % nj), b = (int)(next_rand() % (nj - 1));
    if (b >= a) b++;
    nd = add_unique(dest, nd, my_groups[joined[a]]);
    nd = add_unique(dest, nd, my_groups[joined[b]]);
  } else if (nj > 0) {
    nd = add_unique(dest, nd, my_groups[joined[next_rand() % nj]]);
  } else if (n_other_groups > 0) {
    nd = add_unique(dest, nd, other_groups[0]);
  } else {
    return;
  }
  int svc = pick_service();
  int self_discard = next_rand() % 100 < 5;
  int size = pick_size();
  unsigned long ctr = ++counter;

  char header[512];
  char glist[4 * MAX_GROUP_NAME + 8] = "";
  size_t glen = 0;
  for (int i = 0; i < nd && glen < sizeof glist; i++) {
    int n = snprintf(glist + glen, sizeof glist - glen, "%s%.*s", i ? "," : "",
                     MAX_GROUP_NAME - 1, dest[i]);
    if (n > 0) glen += (size_t)n;
  }
  int hl = snprintf(header, sizeof header, "T1|%s|%lu|%d|%s|", private_group, ctr, svc, glist);
  /* the size field's width depends on the size; iterate until it is stable */
  int total = size, prefix_len = 0;
  for (int k = 0; k < 3; k++) {
    prefix_len = hl + snprintf(NULL, 0, "%d|", total);
    if (total < prefix_len + 17) total = prefix_len + 17;
  }
  char *msg = malloc((size_t)total);
  if (!msg) return;
  memcpy(msg, header, (size_t)hl);
  snprintf(msg + hl, (size_t)(total - hl), "%d|", total);
  int body = total - prefix_len - 17;
  fill(msg + prefix_len + 17, (size_t)body, private_group, ctr);
  uint64_t h = fnv_step(FNV_INIT, msg, (size_t)prefix_len);
  h = fnv_step(h, msg + prefix_len + 17, (size_t)body);
  char sum[17];
  snprintf(sum, sizeof sum, "%016llx", (unsigned long long)h);
  memcpy(msg + prefix_len, sum, 16);
  msg[prefix_len + 16] = '\n';

  begin_line("send");
  fprintf(logf, ",\"ctr\":%lu,\"svc\":%d,\"groups\":", ctr, svc);
  json_names(dest, nd);
  fprintf(logf, ",\"size\":%d,\"sum\":\"%s\",\"sd\":%d", total, sum, self_discard);
  end_line(1); /* on disk before it can be delivered anywhere */
  int ret = SP_multigroup_multicast(mbox, svc | (self_discard ? SELF_DISCARD : 0), nd,
                                    (const char(*)[MAX_GROUP_NAME])dest, 0, total, msg);
  free(msg);
  if (ret != total) {
    begin_line("send_failed");
    fprintf(logf, ",\"ctr\":%lu,\"ret\":%d", ctr, ret);
    end_line(1);
  }
}

/* ---- receiving ---- */

static void remember_peer(const char *p) {
  if (strncmp(p, private_group, MAX_GROUP_NAME) == 0) return;
  for (int i = 0; i < n_peers; i++)
    if (strncmp(peers[i], p, MAX_GROUP_NAME) == 0) return;
  if (n_peers < MAX_PEERS)
    snprintf(peers[n_peers++], MAX_GROUP_NAME, "%s", p);
  else
    snprintf(peers[next_rand() % MAX_PEERS], MAX_GROUP_NAME, "%s", p);
}

static const char *cause_name(service t) {
  if (Is_caused_join_mess(t)) return "join";
  if (Is_caused_leave_mess(t)) return "leave";
  if (Is_caused_disconnect_mess(t)) return "disconnect";
  if (Is_caused_network_mess(t)) return "network";
  return "none";
}

static void log_data(service st, const char *sender, int num_groups, int got, int truncated) {
  /* parse our header: T1|from|ctr|svc|groups|size|sum\n */
  char hfrom[MAX_GROUP_NAME] = "", hgroups[4 * MAX_GROUP_NAME + 8] = "";
  unsigned long hctr = 0;
  int hsvc = -1, hsize = -1, parsed = 0;
  const char *verdict = "unparsed";
  int fields[6], nf = 0; /* where from, ctr, svc, groups, size and sum start */
  int limit = got < 400 ? got : 400;
  if (got >= 3 && memcmp(rbuf, "T1|", 3) == 0) {
    fields[nf++] = 3;
    for (int i = 3; i < limit && nf < 6; i++)
      if (rbuf[i] == '|') fields[nf++] = i + 1;
  }
  if (nf == 6 && fields[5] + 17 <= got && rbuf[fields[5] + 16] == '\n') {
    int from_len = fields[1] - fields[0] - 1, groups_len = fields[4] - fields[3] - 1;
    if (from_len < MAX_GROUP_NAME && groups_len < (int)sizeof hgroups) {
      memcpy(hfrom, rbuf + fields[0], (size_t)from_len);
      hfrom[from_len] = 0;
      memcpy(hgroups, rbuf + fields[3], (size_t)groups_len);
      hgroups[groups_len] = 0;
      hctr = strtoul(rbuf + fields[1], NULL, 10);
      hsvc = atoi(rbuf + fields[2]);
      hsize = atoi(rbuf + fields[4]);
      parsed = 1;
    }
  }
  if (parsed) {
    if (truncated) {
      verdict = "trunc";
    } else {
      uint64_t h = fnv_step(FNV_INIT, rbuf, (size_t)fields[5]);
      h = fnv_step(h, rbuf + fields[5] + 17, (size_t)(got - fields[5] - 17));
      char sum[17];
      snprintf(sum, sizeof sum, "%016llx", (unsigned long long)h);
      verdict = (memcmp(sum, rbuf + fields[5], 16) == 0 && hsize == got) ? "ok" : "bad";
    }
  }
  begin_line("recv");
  fputs(",\"from\":", logf);
  json_str(sender);
  fprintf(logf, ",\"svc\":%d,\"groups\":", (int)(st & REGULAR_MESS));
  json_names(rgroups, num_groups < 0 ? rgroups_len : num_groups);
  fprintf(logf, ",\"gcut\":%d,\"size\":%d,\"got\":%d,\"ctr\":%lu,\"hsvc\":%d,\"hgroups\":",
          num_groups < 0, truncated ? hsize : got, got, hctr, hsvc);
  json_str(hgroups);
  fputs(",\"hfrom\":", logf);
  json_str(hfrom);
  fprintf(logf, ",\"ok\":\"%s\",\"trunc\":%d,\"sd\":%d}", verdict, truncated,
          Is_self_discard(st) ? 1 : 0);
  fputc('\n', logf);
  int64_t t = now_ns();
  if (t - last_flush_ns > 200000000) {
    fflush(logf);
    last_flush_ns = t;
  }
}

static void log_membership(service st, const char *group, int num_groups, int got) {
  membership_info info;
  char gname[MAX_GROUP_NAME + 1];
  memcpy(gname, group, MAX_GROUP_NAME);
  gname[MAX_GROUP_NAME] = 0;
  if (Is_self_leave(st)) {
    log_simple("selfleave", "g", gname, 0);
    return;
  }
  int r = SP_get_memb_info(rbuf, st, &info);
  if (r < 0 || got < 12) {
    log_error("SP_get_memb_info", r);
    return;
  }
  if (Is_transition_mess(st)) {
    begin_line("trans");
    fputs(",\"g\":", logf);
    json_str(gname);
    fprintf(logf, ",\"gid\":[%d,%d,%d]", info.gid.id[0], info.gid.id[1],
            info.gid.id[2]);
    end_line(0);
    return;
  }
  static char vs[256][MAX_GROUP_NAME];
  int nvs = SP_get_vs_set_members(rbuf, &info.my_vs_set, vs, 256);
  begin_line("memb");
  fputs(",\"g\":", logf);
  json_str(gname);
  fprintf(logf, ",\"gid\":[%d,%d,%d],\"members\":", info.gid.id[0],
          info.gid.id[1], info.gid.id[2]);
  json_names(rgroups, num_groups < 0 ? rgroups_len : num_groups);
  fputs(",\"vs\":", logf);
  json_names(vs, nvs < 0 ? 0 : nvs);
  fprintf(logf, ",\"nvs\":%u,\"cause\":\"%s\",\"gcut\":%d", info.num_vs_sets, cause_name(st),
          num_groups < 0);
  end_line(0);
  if (nvs < 0) log_error("SP_get_vs_set_members", nvs);
  int n = num_groups < 0 ? rgroups_len : num_groups;
  for (int i = 0; i < n; i++) remember_peer(rgroups[i]);
}

/* Receives one message; returns 0 when the connection is gone. */
static int receive_one(void) {
  char sender[MAX_GROUP_NAME];
  int num_groups, endian_mismatch, ret;
  int16 mess_type;
  service st;
  for (;;) {
    st = drop_recv_mode ? DROP_RECV : 0;
    ret = SP_receive(mbox, &st, sender, rgroups_len, &num_groups, rgroups, &mess_type,
                     &endian_mismatch, rbuf_len, rbuf);
    if (!drop_recv_mode && (ret == BUFFER_TOO_SHORT || ret == GROUPS_TOO_SHORT)) {
      if (ret == GROUPS_TOO_SHORT || num_groups < 0) {
        int need = -num_groups;
        void *p = realloc(rgroups, (size_t)need * MAX_GROUP_NAME);
        if (!p) return 0;
        rgroups = p;
        rgroups_len = need;
      }
      if (ret == BUFFER_TOO_SHORT) {
        int need = -endian_mismatch;
        if (need <= rbuf_len) need = rbuf_len * 2;
        char *p = realloc(rbuf, (size_t)need);
        if (!p) return 0;
        rbuf = p;
        rbuf_len = need;
      }
      continue; /* the message stayed queued: read it again */
    }
    break;
  }
  int truncated = 0;
  if (ret == BUFFER_TOO_SHORT && drop_recv_mode) {
    truncated = 1;
    ret = rbuf_len;
  }
  if (ret < 0) {
    if (ret == CONNECTION_CLOSED || ret == NET_ERROR_ON_SESSION || ret == ILLEGAL_SESSION) {
      log_error("SP_receive", ret);
      drop_connection("closed");
      return 0;
    }
    log_error("SP_receive", ret);
    return 1;
  }
  sender[MAX_GROUP_NAME - 1] = 0;
  if (Is_regular_mess(st))
    log_data(st, sender, num_groups, ret, truncated);
  else if (Is_membership_mess(st))
    log_membership(st, sender, num_groups, ret);
  else
    log_error("unknown message", (int)st);
  return 1;
}

/* Waits up to `ms` for input and handles everything that is waiting. */
static void pump(int ms) {
  if (!connected) {
    usleep((useconds_t)ms * 1000);
    return;
  }
  struct pollfd pfd = {.fd = mbox, .events = POLLIN};
  if (SP_poll(mbox) <= 0) {
    int r = poll(&pfd, 1, ms);
    if (r <= 0) return;
  }
  /* a bounded batch so sending keeps its rate under a flood */
  for (int k = 0; k < 200 && connected; k++) {
    if (!receive_one()) return;
    int p = SP_poll(mbox);
    if (p <= 0) {
      if (poll(&pfd, 1, 0) <= 0) return;
    }
  }
}

/* ---- churn ---- */

static void churn_once(void) {
  int r = (int)(next_rand() % 100);
  if (r < 45) {
    int joined[MAX_MY_GROUPS], nj = 0;
    for (int i = 0; i < n_my_groups; i++)
      if (in_group[i]) joined[nj++] = i;
    if (nj == 0) return;
    int i = joined[next_rand() % nj];
    log_simple("leave", "g", my_groups[i], 1);
    int ret = SP_leave(mbox, my_groups[i]);
    if (ret < 0) log_error("leave", ret);
    in_group[i] = 0;
    rejoin_at[i] = now_ns() + (int64_t)((0.3 + uniform() * 1.2) * 1e9);
  } else if (r < 70) {
    drop_connection("disconnect");
    connect_retrying();
  } else if (r < 92 || !churn_exit) {
    drop_connection("kill");
    connect_retrying();
  } else {
    drop_connection(next_rand() % 2 ? "kill" : "disconnect");
    begin_line("exit");
    end_line(1);
    fclose(logf);
    exit(0);
  }
}

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static int split_groups(const char *arg, char (*dst)[MAX_GROUP_NAME]) {
  int n = 0;
  const char *p = arg;
  while (*p && n < MAX_MY_GROUPS) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len > 0 && len < MAX_GROUP_NAME) {
      memcpy(dst[n], p, len);
      dst[n][len] = 0;
      n++;
    }
    if (!e) break;
    p = e + 1;
  }
  return n;
}

static void usage(void) {
  fprintf(stderr,
          "usage: torture_client --daemon SPEC --name NAME --groups G1,G2 [--other G3]\n"
          "  [--rate N] [--seconds S | --send-until MONO_S --exit-at MONO_S] [--seed N]\n"
          "  --log PATH [--drop-recv | --grow] [--churn MEAN_S] [--churn-exit] [--max-size B]\n"
          "  [--lifetime S]\n");
  exit(2);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"daemon", required_argument, 0, 'd'},   {"name", required_argument, 0, 'n'},
      {"groups", required_argument, 0, 'g'},   {"other", required_argument, 0, 'o'},
      {"rate", required_argument, 0, 'r'},     {"seconds", required_argument, 0, 's'},
      {"send-until", required_argument, 0, 'U'}, {"exit-at", required_argument, 0, 'X'},
      {"seed", required_argument, 0, 'S'},     {"log", required_argument, 0, 'l'},
      {"drop-recv", no_argument, 0, 'D'},      {"grow", no_argument, 0, 'G'},
      {"churn", required_argument, 0, 'c'},    {"churn-exit", no_argument, 0, 'E'},
      {"max-size", required_argument, 0, 'm'}, {"lifetime", required_argument, 0, 'L'},
      {0, 0, 0, 0}};
  const char *log_path = NULL;
  double seconds = 10, send_until = 0, exit_at = 0;
  unsigned long long seed = 1;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'd': daemon_spec = optarg; break;
      case 'n': base_name = optarg; break;
      case 'g': n_my_groups = split_groups(optarg, my_groups); break;
      case 'o': n_other_groups = split_groups(optarg, other_groups); break;
      case 'r': rate = atof(optarg); break;
      case 's': seconds = atof(optarg); break;
      case 'U': send_until = atof(optarg); break;
      case 'X': exit_at = atof(optarg); break;
      case 'S': seed = strtoull(optarg, NULL, 10); break;
      case 'l': log_path = optarg; break;
      case 'D': drop_recv_mode = 1; break;
      case 'G': drop_recv_mode = 0; break;
      case 'c': churn_mean_s = atof(optarg); break;
      case 'E': churn_exit = 1; break;
      case 'm': max_size = atoi(optarg); break;
      case 'L': lifetime_s = atof(optarg); break;
      default: usage();
    }
  }
  if (!daemon_spec || !base_name || !log_path || strlen(base_name) > 6) usage();
  rng_state ^= seed * 0x9E3779B97F4A7C15ull;
  if (rng_state == 0) rng_state = 1;
  for (int i = 0; i < 8; i++) next_rand();
  int64_t start = now_ns();
  send_until_ns = send_until > 0 ? (int64_t)(send_until * 1e9) : start + (int64_t)(seconds * 1e9);
  exit_at_ns = exit_at > 0 ? (int64_t)(exit_at * 1e9) : send_until_ns + 3000000000ll;

  logf = fopen(log_path, "a");
  if (!logf) {
    perror(log_path);
    return 2;
  }
  setvbuf(logf, NULL, _IOFBF, 1 << 16);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);

  rgroups_len = drop_recv_mode ? 128 : 4;
  rgroups = malloc((size_t)rgroups_len * MAX_GROUP_NAME);
  rbuf_len = drop_recv_mode ? DROP_BUFFER : 1024;
  rbuf = malloc((size_t)rbuf_len);
  if (!rgroups || !rbuf) return 2;

  connect_retrying();
  double interval = rate > 0 ? 1.0 / rate : 1e9;
  int64_t next_send = now_ns() + (int64_t)(uniform() * interval * 1e9);
  int64_t next_churn =
      churn_mean_s > 0 ? now_ns() + (int64_t)((0.5 + uniform()) * churn_mean_s * 1e9) : INT64_MAX;
  int final_logged = 0;
  int64_t die_at = lifetime_s > 0 ? start + (int64_t)(lifetime_s * 1e9) : INT64_MAX;
  while (!stop_requested) {
    int64_t t = now_ns();
    if (t >= exit_at_ns) break;
    if (t >= die_at) {
      drop_connection(next_rand() % 2 ? "kill" : "disconnect");
      begin_line("exit");
      end_line(1);
      fclose(logf);
      return 0;
    }
    if (!connected) {
      connect_retrying();
      continue;
    }
    int sending = t < send_until_ns;
    if (!sending && !final_logged) {
      /* no more sends or churn: rejoin what churn left so the end views can converge */
      for (int i = 0; i < n_my_groups; i++)
        if (!in_group[i]) {
          log_simple("join", "g", my_groups[i], 1);
          SP_join(mbox, my_groups[i]);
          in_group[i] = 1;
          rejoin_at[i] = 0;
        }
      final_logged = 1;
    }
    if (sending) {
      for (int i = 0; i < n_my_groups; i++)
        if (rejoin_at[i] && t >= rejoin_at[i]) {
          log_simple("join", "g", my_groups[i], 1);
          int r = SP_join(mbox, my_groups[i]);
          if (r < 0) log_error("join", r);
          in_group[i] = 1;
          rejoin_at[i] = 0;
        }
      if (t >= next_churn) {
        churn_once();
        next_churn = now_ns() + (int64_t)((0.5 + uniform()) * churn_mean_s * 1e9);
        continue;
      }
      if (t >= next_send) {
        send_one();
        next_send += (int64_t)((0.5 + uniform()) * interval * 1e9);
        if (next_send < t - 1000000000) next_send = t; /* do not burst after a stall */
      }
    }
    int64_t wake = sending ? next_send : exit_at_ns;
    if (sending && next_churn < wake) wake = next_churn;
    int ms = (int)((wake - now_ns()) / 1000000);
    if (ms < 0) ms = 0;
    if (ms > 100) ms = 100;
    pump(ms);
  }
  if (connected) {
    /* Every client logs its final views at the same deadline, before anyone leaves: linger
     * without reading so that the first disconnect comes after all the "final" lines. */
    begin_line("final");
    end_line(1);
    if (!stop_requested) usleep(700000);
    drop_connection("end");
  }
  begin_line("exit");
  end_line(1);
  fclose(logf);
  return 0;
}
