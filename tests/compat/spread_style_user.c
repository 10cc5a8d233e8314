/* spread_style_user.c — a client written the way Spread programs are written (spuser's shape),
 * for the compatibility suite (tests/install/test_install.py, issue 19). It only includes <sp.h>
 * and uses what Spread's own programs use: the event library as the main loop (the mailbox at
 * HIGH_PRIORITY, commands on stdin at LOW_PRIORITY, a timer), an authentication callback,
 * SP_version under SPREAD_VERSION, size_t scatters, the DROP_RECV retry after a short buffer,
 * membership info with gid.id[] and vs-sets, SP_equal_group_ids and the Flip_ macros.
 *
 *   usage: spread_style_user SPREAD_NAME USER [DATA_BYTES]
 *   DATA_BYTES (default 100000) is the buffer for data messages: a bigger one is cut with
 *   DROP_RECV; a membership message that does not fit is read again into a bigger buffer.
 *   stdin: j GROUP | l GROUP | s GROUP TEXT | m GROUP GROUP TEXT | t MS | q
 *
 * Every line it prints starts with a word the test looks for; it exits 0 after q, else 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sp.h>

static mailbox Mbox;
static char Private_group[MAX_GROUP_NAME];
#define BIG_BUFFER 100000
static size_t Buffer_bytes = BIG_BUFFER;
static char *Mess;
static group_id Last_gid;
static int Have_gid;
static int Auth_calls;
static int Exit_code = 1; /* 0 once q was handled */

static int check_auth(int fd, void *data) {
  int *calls = (int *)data;
  (*calls)++;
  return fd >= 0;
}

static void timer_fired(int code, void *data) {
  (void)data;
  printf("timer %d\n", code);
}

static const char *cause(service service_type) {
  if (Is_caused_join_mess(service_type)) return "JOIN";
  if (Is_caused_leave_mess(service_type)) return "LEAVE";
  if (Is_caused_disconnect_mess(service_type)) return "DISCONNECT";
  if (Is_caused_network_mess(service_type)) return "NETWORK";
  return "?";
}

static void print_membership(service service_type, const char *group, int num_groups,
                             char groups[][MAX_GROUP_NAME], int16 index) {
  membership_info info;
  vs_set_info sets[8];
  char names[64][MAX_GROUP_NAME];
  unsigned int my_set = 0;
  int i, j, n, k;

  if (Is_self_leave(service_type)) {
    printf("selfleave %s\n", group);
    return;
  }
  if (SP_get_memb_info(Mess, service_type, &info) != 1) {
    printf("error SP_get_memb_info\n");
    return;
  }
  if (Is_transition_mess(service_type)) {
    printf("transition %s id %d %d %d\n", group, info.gid.id[0], info.gid.id[1], info.gid.id[2]);
    return;
  }
  printf("view %s id %d %d %d members %d cause %s index %d changed %s new %d\n", group,
         info.gid.id[0], info.gid.id[1], info.gid.id[2], num_groups, cause(service_type),
         (int)index, info.changed_member,
         Have_gid ? !SP_equal_group_ids(info.gid, Last_gid) : 1);
  Last_gid = info.gid;
  Have_gid = 1;
  for (i = 0; i < num_groups; i++) printf("member %s\n", groups[i]);
  n = SP_get_vs_sets_info(Mess, sets, 8, &my_set);
  for (i = 0; i < n; i++) {
    k = SP_get_vs_set_members(Mess, &sets[i], names, 64);
    for (j = 0; j < k; j++) printf("vsset %d%s %s\n", i, (unsigned)i == my_set ? "*" : "", names[j]);
  }
}

static void read_message(int fd, int code, void *data) {
  char sender[MAX_GROUP_NAME];
  char groups[16][MAX_GROUP_NAME];
  int num_groups, endian_mismatch, ret, truncated = 0;
  int16 mess_type;
  service service_type = 0;
  scatter scat;
  (void)fd;
  (void)code;
  (void)data;

  /* Two elements, so every message is split across them. */
  scat.num_elements = 2;
  scat.elements[0].buf = Mess;
  scat.elements[0].len = 5;
  scat.elements[1].buf = Mess + 5;
  scat.elements[1].len = Buffer_bytes - 5;
  ret = SP_scat_receive(Mbox, &service_type, sender, 16, &num_groups, groups, &mess_type,
                        &endian_mismatch, &scat);
  if (ret == BUFFER_TOO_SHORT && Is_membership_mess(service_type)) {
    /* The message is still there: read it again with room for it. */
    scat.elements[1].len = BIG_BUFFER - 5;
    service_type = 0;
    ret = SP_scat_receive(Mbox, &service_type, sender, 16, &num_groups, groups, &mess_type,
                          &endian_mismatch, &scat);
  } else if (ret == BUFFER_TOO_SHORT || ret == GROUPS_TOO_SHORT) {
    printf("short %s needs %d bytes %d groups\n", ret == BUFFER_TOO_SHORT ? "buffer" : "groups",
           -endian_mismatch, -num_groups);
    service_type = DROP_RECV;
    ret = SP_scat_receive(Mbox, &service_type, sender, 16, &num_groups, groups, &mess_type,
                          &endian_mismatch, &scat);
    if (ret == BUFFER_TOO_SHORT) {
      truncated = 1;
      ret = (int)Buffer_bytes;
    }
  }
  if (ret < 0) {
    SP_error(ret);
    E_exit_events();
    return;
  }
  if (Is_regular_mess(service_type)) {
    Mess[ret < (int)Buffer_bytes ? ret : (int)Buffer_bytes - 1] = '\0';
    printf("message %s from %s to %d groups service %d type %d endian %d len %d%s: %s\n",
           num_groups > 0 ? groups[0] : "?", sender, num_groups, service_type & REGULAR_MESS,
           (int)mess_type, endian_mismatch, ret, truncated ? " truncated" : "", Mess);
  } else if (Is_membership_mess(service_type)) {
    print_membership(service_type, sender, num_groups, groups, mess_type);
  } else {
    printf("other %d\n", service_type);
  }
}

static void send_text(int num_groups, char groups[][MAX_GROUP_NAME], const char *text) {
  scatter scat;
  size_t len = strlen(text);
  size_t half = len / 2;
  int ret;
  scat.num_elements = 2;
  scat.elements[0].buf = (char *)text;
  scat.elements[0].len = half;
  scat.elements[1].buf = (char *)text + half;
  scat.elements[1].len = len - half;
  ret = SP_multigroup_scat_multicast(Mbox, SAFE_MESS, num_groups,
                                     (const char(*)[MAX_GROUP_NAME])groups, 7, &scat);
  if (ret != (int)len) SP_error(ret);
}

static void user_command(int fd, int code, void *data) {
  char line[1024], text[1024];
  char groups[2][MAX_GROUP_NAME];
  int count, ret;
  (void)code;
  (void)data;

  if (fgets(line, sizeof line, stdin) == NULL) {
    E_detach_fd(fd, READ_FD);
    return;
  }
  memset(groups, 0, sizeof groups);
  text[0] = '\0';
  switch (line[0]) {
    case 'j':
      if (sscanf(line + 2, "%31s", groups[0]) == 1) {
        ret = SP_join(Mbox, groups[0]);
        if (ret < 0) SP_error(ret);
      }
      break;
    case 'l':
      if (sscanf(line + 2, "%31s", groups[0]) == 1) SP_leave(Mbox, groups[0]);
      break;
    case 's':
      if (sscanf(line + 2, "%31s %1000[^\n]", groups[0], text) == 2) send_text(1, groups, text);
      break;
    case 'm':
      if (sscanf(line + 2, "%31s %31s %1000[^\n]", groups[0], groups[1], text) == 3)
        send_text(2, groups, text);
      break;
    case 't':
      if (sscanf(line + 2, "%d", &count) == 1) {
        sp_time delay = {0, 0};
        delay.usec = 1000L * count;
        E_queue(timer_fired, count, NULL, delay);
        if (!E_in_queue(timer_fired, count, NULL)) printf("error E_in_queue\n");
      }
      break;
    case 'q':
      printf("bye %d\n", SP_disconnect(Mbox));
      Exit_code = 0;
      E_exit_events();
      return;
    default:
      printf("unknown command\n");
  }
}

int main(int argc, char **argv) {
  int major = 0, minor = 0, patch = 0, ret;
  sp_time timeout = {5, 0};

  if (argc < 3) {
    fprintf(stderr, "usage: %s SPREAD_NAME USER [BUFFER_BYTES]\n", argv[0]);
    return 2;
  }
  if (argc > 3) Buffer_bytes = (size_t)atol(argv[3]);
  if (Buffer_bytes < 8 || Buffer_bytes > BIG_BUFFER) Buffer_bytes = BIG_BUFFER;
  Mess = malloc(BIG_BUFFER);
  setvbuf(stdout, NULL, _IOLBF, 0);

  /* The byte-swapping macros, as programs use them on integers in a foreign-endian payload. */
  if (Flip_int32(0x01020304) != 0x04030201u || Flip_int16(0x0102) != 0x0201 ||
      (int16)Flip_int16((int16)-2) != (int16)0xfeff) {
    printf("error Flip macros\n");
    return 1;
  }
#ifdef SPREAD_VERSION
  if (!SP_version(&major, &minor, &patch)) return 1;
  printf("version %d.%d.%d header %d.%d.%d\n", major, minor, patch, SPREAD_VERSION >> 24,
         (SPREAD_VERSION >> 16) & 0xff, SPREAD_VERSION & 0xffff);
#endif
  if (!SP_set_auth_method("NULL", check_auth, &Auth_calls)) return 1;
  ret = SP_connect_timeout(argv[1], argv[2], 0, 1, &Mbox, Private_group, timeout);
  if (ret != ACCEPT_SESSION) {
    SP_error(ret);
    return 1;
  }
  printf("connected %s auth %d\n", Private_group, Auth_calls);

  E_init();
  E_attach_fd(0, READ_FD, user_command, 0, NULL, LOW_PRIORITY);
  E_attach_fd(Mbox, READ_FD, read_message, 0, NULL, HIGH_PRIORITY);
  printf("ready\n");
  E_handle_events();
  free(Mess);
  return Exit_code;
}
