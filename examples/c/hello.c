/* hello.c — the smallest complete Spread program: connect, join a group, multicast one message,
 * read it back with the membership messages around it, leave, disconnect. Uses only sp.h, so it
 * builds unchanged against Spread or Chorus.
 *
 *   usage: hello_c [spread_name] [group]     (defaults: 4803, i.e. /tmp/4803; group "hello")
 *   build: cc hello.c $(pkg-config --cflags --libs chorus) -o hello_c
 */
#include <stdio.h>
#include <string.h>

#include <sp.h>

static int receive_one(mailbox mbox, const char *private_group) {
  char sender[MAX_GROUP_NAME];
  char groups[32][MAX_GROUP_NAME];
  char mess[4096];
  int num_groups, endian_mismatch, ret, i;
  int16 mess_type;
  service service_type = 0;
  membership_info info;

  ret = SP_receive(mbox, &service_type, sender, 32, &num_groups, groups, &mess_type,
                   &endian_mismatch, sizeof mess, mess);
  if (ret < 0) {
    SP_error(ret);
    return -1;
  }
  if (Is_regular_mess(service_type)) {
    printf("message from %s, type %d, %d bytes: %.*s\n", sender, mess_type, ret, ret, mess);
    return strcmp(sender, private_group) == 0 ? 1 : 0;
  }
  if (Is_reg_memb_mess(service_type)) {
    SP_get_memb_info(mess, service_type, &info);
    printf("view of %s (id %d %d %d), %d members:\n", sender, info.gid.id[0],
           info.gid.id[1], info.gid.id[2], num_groups);
    for (i = 0; i < num_groups; i++) printf("\t%s\n", groups[i]);
    if (Is_caused_join_mess(service_type)) printf("because %s joined\n", info.changed_member);
    if (Is_caused_leave_mess(service_type)) printf("because %s left\n", info.changed_member);
    if (Is_caused_disconnect_mess(service_type))
      printf("because %s disconnected\n", info.changed_member);
    if (Is_caused_network_mess(service_type)) printf("because the network changed\n");
  } else if (Is_transition_mess(service_type)) {
    printf("transitional view of %s\n", sender);
  } else if (Is_self_leave(service_type)) {
    printf("left %s\n", sender);
    return 2;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *spread_name = argc > 1 ? argv[1] : "4803";
  const char *group = argc > 2 ? argv[2] : "hello";
  char private_group[MAX_GROUP_NAME];
  char text[100];
  mailbox mbox;
  int ret, major, minor, patch;

  SP_version(&major, &minor, &patch);
  printf("Spread library version %d.%d.%d\n", major, minor, patch);
  ret = SP_connect(spread_name, NULL, 0, 1, &mbox, private_group);
  if (ret != ACCEPT_SESSION) {
    SP_error(ret);
    return 1;
  }
  printf("connected to %s as %s\n", spread_name, private_group);
  if ((ret = SP_join(mbox, group)) < 0) {
    SP_error(ret);
    return 1;
  }
  snprintf(text, sizeof text, "hello from %s", private_group);
  ret = SP_multicast(mbox, AGREED_MESS, group, 1, (int)strlen(text), text);
  if (ret < 0) {
    SP_error(ret);
    return 1;
  }
  while ((ret = receive_one(mbox, private_group)) != 1) {
    if (ret < 0) return 1;
  }
  SP_leave(mbox, group);
  while ((ret = receive_one(mbox, private_group)) != 2) {
    if (ret < 0) return 1;
  }
  SP_disconnect(mbox);
  return 0;
}
