/* c_api.c — sp.h used from C, as a Spread program would use it: this file is compiled as C11
 * with warnings as errors, so the header must be valid C. c_api_roundtrip() connects, joins,
 * sends to itself, reads back its own message and the membership around it, and disconnects;
 * it returns 0 or the step that failed (client_test runs it against a real daemon).
 * c_events_timer() runs Spread's event library from C: a timer that ends the loop. */
#include <stdio.h>
#include <string.h>

#include "sp.h"

int c_api_roundtrip(const char *spread_name);
int c_events_timer(void);

static int ticks;

static void on_tick(int code, void *data) {
  (void)data;
  ticks += code;
  E_exit_events();
}

int c_events_timer(void) {
  sp_time delay = {0, 2000};
  ticks = 0;
  if (E_init() != 0) return 1;
  if (E_queue(on_tick, 7, NULL, delay) != 0) return 2;
  if (E_in_queue(on_tick, 7, NULL) != 1) return 3;
  E_handle_events();
  return ticks == 7 ? 0 : 4;
}

int c_api_roundtrip(const char *spread_name) {
  mailbox mbox;
  char private_group[MAX_GROUP_NAME];
  char sender[MAX_GROUP_NAME];
  char groups[10][MAX_GROUP_NAME];
  char mess[1024];
  int num_groups, endian_mismatch, ret;
  int16 mess_type;
  service service_type;
  membership_info info;

  ret = SP_connect(spread_name, "cuser", 0, 1, &mbox, private_group);
  if (ret != ACCEPT_SESSION) {
    SP_error(ret);
    return 1;
  }
  if (SP_join(mbox, "c_group") != 0) return 2;
  service_type = 0;
  ret = SP_receive(mbox, &service_type, sender, 10, &num_groups, groups, &mess_type,
                   &endian_mismatch, sizeof mess, mess);
  if (ret < 0 || !Is_reg_memb_mess(service_type) || !Is_caused_join_mess(service_type)) return 3;
  if (SP_get_memb_info(mess, service_type, &info) != 1) return 4;
  if (strcmp(info.changed_member, private_group) != 0 || num_groups != 1) return 5;
  if (SP_multicast(mbox, SAFE_MESS, "c_group", 42, 5, "hello") != 5) return 6;
  service_type = 0;
  ret = SP_receive(mbox, &service_type, sender, 10, &num_groups, groups, &mess_type,
                   &endian_mismatch, sizeof mess, mess);
  if (ret != 5 || !Is_safe_mess(service_type) || mess_type != 42 || memcmp(mess, "hello", 5) != 0) {
    return 7;
  }
  if (strcmp(sender, private_group) != 0) return 8;
  if (SP_leave(mbox, "c_group") != 0) return 9;
  service_type = 0;
  ret = SP_receive(mbox, &service_type, sender, 10, &num_groups, groups, &mess_type,
                   &endian_mismatch, sizeof mess, mess);
  if (ret < 0 || !Is_self_leave(service_type)) return 10;
  if (SP_disconnect(mbox) != 0) return 11;
  return 0;
}
