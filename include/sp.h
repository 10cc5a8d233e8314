/* sp.h — Spread's C client API (Spread 4.x/5.x), implemented by Chorus's client library.
 *
 * A program written for Spread compiles unchanged against this header (which includes
 * sp_events.h and sp_func.h, as Spread's does) and links with -lchorus or Spread's own names,
 * -lspread, -lspread-core, -ltspread-core (pkg-config: chorus, spread, ...; CMake:
 * find_package(Chorus), Chorus::chorus, Chorus::spread-core, ...). The names, types,
 * signatures, constants and values are Spread 5.0.1's; behaviour follows Spread's libspread and
 * its man pages, including the short-buffer rules of SP_receive (BUFFER_TOO_SHORT,
 * GROUPS_TOO_SHORT, DROP_RECV). What still differs: docs/client.md, "Porting from Spread".
 *
 * Threads: as Spread documents for multithreaded clients. Any number of threads may send on
 * one mailbox (each message goes out whole), receives on one mailbox are serialized, and
 * SP_disconnect from another thread makes a blocked SP_receive return. SP_kill closes the
 * socket without telling the daemon; a forked child that shares its parent's mailbox calls
 * SP_kill, never SP_disconnect. The library's lock is safe across fork (pthread_atfork).
 *
 * Chorus extension: spread_name may also be an absolute path to a daemon's Unix socket.
 */
#ifndef INC_SP
#define INC_SP

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef int16
#define int16 short
#endif
#ifndef int32
#define int32 int
#endif

#define DEFAULT_SPREAD_PORT 4803

#define SPREAD_VERSION ((5 << 24) | (0 << 16) | 1)

#define MAX_GROUP_NAME 32
#define MAX_PRIVATE_NAME 10 /* largest private_name of SP_connect() */
#define MAX_PROC_NAME 20    /* largest daemon name */

#define UNRELIABLE_MESS 0x00000001
#define RELIABLE_MESS 0x00000002
#define FIFO_MESS 0x00000004
#define CAUSAL_MESS 0x00000008
#define AGREED_MESS 0x00000010
#define SAFE_MESS 0x00000020
#define REGULAR_MESS 0x0000003f

#define SELF_DISCARD 0x00000040
#define DROP_RECV 0x01000000

#define REG_MEMB_MESS 0x00001000
#define TRANSITION_MESS 0x00002000
#define CAUSED_BY_JOIN 0x00000100
#define CAUSED_BY_LEAVE 0x00000200
#define CAUSED_BY_DISCONNECT 0x00000400
#define CAUSED_BY_NETWORK 0x00000800
#define MEMBERSHIP_MESS 0x00003f00

#define ENDIAN_RESERVED 0x80000080
#define RESERVED 0x003fc000
#define REJECT_MESS 0x00400000

#define Is_unreliable_mess(type) ((type)&UNRELIABLE_MESS)
#define Is_reliable_mess(type) ((type)&RELIABLE_MESS)
#define Is_fifo_mess(type) ((type)&FIFO_MESS)
#define Is_causal_mess(type) ((type)&CAUSAL_MESS)
#define Is_agreed_mess(type) ((type)&AGREED_MESS)
#define Is_safe_mess(type) ((type)&SAFE_MESS)
#define Is_regular_mess(type) (((type)&REGULAR_MESS) && !((type)&REJECT_MESS))

#define Is_self_discard(type) ((type)&SELF_DISCARD)

#define Is_reg_memb_mess(type) ((type)&REG_MEMB_MESS)
#define Is_transition_mess(type) ((type)&TRANSITION_MESS)
#define Is_caused_join_mess(type) ((type)&CAUSED_BY_JOIN)
#define Is_caused_leave_mess(type) ((type)&CAUSED_BY_LEAVE)
#define Is_caused_disconnect_mess(type) ((type)&CAUSED_BY_DISCONNECT)
#define Is_caused_network_mess(type) ((type)&CAUSED_BY_NETWORK)
#define Is_membership_mess(type) (((type)&MEMBERSHIP_MESS) && !((type)&REJECT_MESS))
#define Is_reject_mess(type) ((type)&REJECT_MESS)
#define Is_self_leave(type) \
  (((type)&CAUSED_BY_LEAVE) && !((type) & (REG_MEMB_MESS | TRANSITION_MESS)))

#define ACCEPT_SESSION 1
#define ILLEGAL_SPREAD -1
#define COULD_NOT_CONNECT -2
#define REJECT_QUOTA -3
#define REJECT_NO_NAME -4
#define REJECT_ILLEGAL_NAME -5
#define REJECT_NOT_UNIQUE -6
#define REJECT_VERSION -7
#define CONNECTION_CLOSED -8
#define REJECT_AUTH -9

#define ILLEGAL_SESSION -11
#define ILLEGAL_SERVICE -12
#define ILLEGAL_MESSAGE -13
#define ILLEGAL_GROUP -14
#define BUFFER_TOO_SHORT -15
#define GROUPS_TOO_SHORT -16
#define MESSAGE_TOO_LONG -17
#define NET_ERROR_ON_SESSION -18
#define SP_BUG -19
#define ILLEGAL_TIME -20

#define MAX_CLIENT_SCATTER_ELEMENTS 100

/* A 16- or 32-bit value in the other byte order (for a message whose endian_mismatch is 1).
 * The result types are Spread's (int, unsigned int); the shifts are done unsigned, so a negative
 * argument is well defined. */
#define Flip_int16(type) \
  ((int)((((unsigned int)(type) >> 8) & 0x00ffu) | (((unsigned int)(type) << 8) & 0xff00u)))
#define Flip_int32(type)                                                                \
  ((((unsigned int)(type) >> 24) & 0x000000ffu) | (((unsigned int)(type) >> 8) & 0x0000ff00u) | \
   (((unsigned int)(type) << 8) & 0x00ff0000u) | (((unsigned int)(type) << 24) & 0xff000000u))

typedef int mailbox;
typedef int service;

/* A group's view identifier: the same 12 bytes for every member of the view. */
typedef struct dummy_group_id {
  int32 id[3];
} group_id;

typedef struct dummy_vs_set_info {
  unsigned int num_members;
  unsigned int members_offset; /* offset of the first member name from the start of the body */
} vs_set_info;

typedef struct dummy_membership_info {
  group_id gid;
  char changed_member[MAX_GROUP_NAME]; /* CAUSED_BY_JOIN, _LEAVE or _DISCONNECT only */
  unsigned int num_vs_sets;
  vs_set_info my_vs_set;
} membership_info;

typedef struct dummy_scat_element {
  char *buf;
  size_t len;
} scat_element;

typedef struct dummy_scatter {
  size_t num_elements;
  scat_element elements[MAX_CLIENT_SCATTER_ELEMENTS];
} scatter;

/* As in Spread: the event library, then the functions (sp_func.h is reached through here). */
#include "sp_events.h"
#include "sp_func.h"

#ifdef __cplusplus
}
#endif

#endif /* INC_SP */
