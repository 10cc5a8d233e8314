/* listen.c — joins a group and prints what arrives (messages, views with their vs-sets) until
 * it has seen `count` messages. Shows SP_receive's short-buffer handling: a message bigger than
 * the buffer is read again with DROP_RECV, as spuser does. Uses only sp.h.
 *
 *   usage: listen_c [spread_name] [group] [count]     (defaults: 4803, "hello", 10)
 */
#include <stdio.h>
#include <stdlib.h>

#include <sp.h>

int main(int argc, char **argv) {
  const char *spread_name = argc > 1 ? argv[1] : "4803";
  const char *group = argc > 2 ? argv[2] : "hello";
  int count = argc > 3 ? atoi(argv[3]) : 10;
  char private_group[MAX_GROUP_NAME], sender[MAX_GROUP_NAME];
  char groups[100][MAX_GROUP_NAME], members[100][MAX_GROUP_NAME];
  char mess[1024];
  vs_set_info sets[16];
  membership_info info;
  unsigned int mine;
  int num_groups, endian_mismatch, ret, i, j, n;
  int16 mess_type;
  service service_type;
  mailbox mbox;

  ret = SP_connect(spread_name, NULL, 0, 1, &mbox, private_group);
  if (ret != ACCEPT_SESSION) {
    SP_error(ret);
    return 1;
  }
  SP_join(mbox, group);
  printf("%s listening to %s\n", private_group, group);
  fflush(stdout);
  for (i = 0; i < count; i++) {
    service_type = 0;
    ret = SP_receive(mbox, &service_type, sender, 100, &num_groups, groups, &mess_type,
                     &endian_mismatch, sizeof mess, mess);
    if (ret == BUFFER_TOO_SHORT || ret == GROUPS_TOO_SHORT) {
      printf("(message too big for the buffer: reading what fits)\n");
      service_type = DROP_RECV;
      ret = SP_receive(mbox, &service_type, sender, 100, &num_groups, groups, &mess_type,
                       &endian_mismatch, sizeof mess, mess);
      if (ret == BUFFER_TOO_SHORT) ret = (int)sizeof mess;
    }
    if (ret < 0) {
      SP_error(ret);
      return 1;
    }
    if (Is_regular_mess(service_type)) {
      printf("%s: %.*s\n", sender, ret, mess);
    } else if (Is_reg_memb_mess(service_type)) {
      SP_get_memb_info(mess, service_type, &info);
      n = SP_get_vs_sets_info(mess, sets, 16, &mine);
      printf("%s now has %d members, %d vs-sets\n", sender, num_groups, n);
      for (j = 0; j < n; j++) {
        int k, m = SP_get_vs_set_members(mess, &sets[j], members, 100);
        printf("  %s set %d:", (unsigned)j == mine ? "our" : "other", j);
        for (k = 0; k < m; k++) printf(" %s", members[k]);
        printf("\n");
      }
    } else if (Is_transition_mess(service_type)) {
      printf("%s: transitional view\n", sender);
    }
    fflush(stdout);
  }
  SP_disconnect(mbox);
  return 0;
}
