/* spread_pattern.h — bench/sp_bench's baseline: a client making Spread's library's system calls
 * per message (spread_pattern.c). Returns are sp.h's codes. */
#ifndef CHORUS_BENCH_SPREAD_PATTERN_H
#define CHORUS_BENCH_SPREAD_PATTERN_H

#include <stdint.h>

/* `where`: "port@a.b.c.d" (TCP) or an absolute Unix socket path. One connection per process. */
int spp_connect(const char *where, const char *name, int *mbox, char *private_group);
int spp_join(int mbox, const char *group);
int spp_disconnect(int mbox);
int spp_multicast(int mbox, int service, const char *group, int16_t mess_type, int mess_len,
                  const char *mess);
int spp_receive(int mbox, int *service, char sender[32], int max_groups, int *num_groups,
                char groups[][32], int16_t *mess_type, int max_mess_len, char *mess);

#endif
