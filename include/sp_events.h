/* sp_events.h — Spread's event library (Spread 4.x/5.x), implemented by Chorus's client library.
 *
 * The main loop many Spread programs are written around: callbacks on file descriptors (a
 * mailbox, stdin, sockets) by type and priority, timers, and E_handle_events() that runs them
 * until E_exit_events(). Names, signatures, constants and values are Spread's; sp.h includes
 * this header, as Spread's does. Behaviour follows Spread's events library, with the
 * differences listed in docs/client.md ("Porting from Spread"):
 *   - due timers run on every pass of the loop (Spread's skips them on its first pass and while
 *     high or medium priority descriptors stay busy);
 *   - any descriptor number works (poll(2), not select(2): no FD_SETSIZE limit);
 *   - E_exit_events() is async-signal-safe and may be called from any thread.
 *
 * One loop per process, run by one thread; the other functions are for that thread (and for
 * callbacks), except E_exit_events and E_exit_events_async_safe.
 */
#ifndef INC_SP_EVENTS
#define INC_SP_EVENTS

#ifdef __cplusplus
extern "C" {
#endif

#ifndef NULL
#define NULL ((void *)0)
#endif

#define MAX_FD_EVENTS 2000 /* descriptors per priority */

#define NUM_PRIORITY 3
#define LOW_PRIORITY 0
#define MEDIUM_PRIORITY 1
#define HIGH_PRIORITY 2

#define NUM_FDTYPES 3
#define READ_FD 0
#define WRITE_FD 1
#define EXCEPT_FD 2

typedef struct dummy_time {
  long sec;
  long usec;
} sp_time;

/* Resets the library: no timers, no descriptors, threshold LOW_PRIORITY. Returns 0. */
int E_init(void);

/* Wall-clock time (gettimeofday); E_get_time_monotonic: a clock that never jumps, the one the
 * timers use. */
sp_time E_get_time(void);
sp_time E_get_time_monotonic(void);
/* Arithmetic on times, normalised so that 0 <= |usec| < 1000000 and sec and usec share a sign. */
sp_time E_sub_time(sp_time t, sp_time delta_t);
sp_time E_add_time(sp_time t, sp_time delta_t);
sp_time E_neg_time(sp_time t);
/* 1, 0 or -1 as t1 is later than, equal to or earlier than t2. */
int E_compare_time(sp_time t1, sp_time t2);

/* Calls func(code, data) once, delta_time from now. A timer with the same func, code and data
 * is replaced (re-queueing reschedules). Timers due at the same time run in the order queued.
 * Returns 0. */
int E_queue(void (*func)(int code, void *data), int code, void *data, sp_time delta_time);
/* Removes that timer: 0, or -1 when none was queued. */
int E_dequeue(void (*func)(int code, void *data), int code, void *data);
/* 1 if that timer is queued, else 0. */
int E_in_queue(void (*func)(int code, void *data), int code, void *data);
/* Sleeps for t (timers and descriptors wait). */
void E_delay(sp_time t);

/* Calls func(fd, code, data) whenever fd is ready for fd_type (READ_FD, WRITE_FD, EXCEPT_FD),
 * at priority LOW_PRIORITY..HIGH_PRIORITY. Returns 0, or 1 when (fd, fd_type) was already
 * attached at that priority (its callback is replaced and it is active again); -1 for a bad
 * argument or when MAX_FD_EVENTS descriptors are attached at that priority. */
int E_attach_fd(int fd, int fd_type, void (*func)(int fd, int code, void *data), int code,
                void *data, int priority);
/* Detaches (fd, fd_type) from every priority (or from one): 0, or -1 when it was not attached. */
int E_detach_fd(int fd, int fd_type);
int E_detach_fd_priority(int fd, int fd_type, int priority);
/* Only descriptors at this priority or above are watched. Returns priority, or -1. */
int E_set_active_threshold(int priority);
/* Stops or resumes watching an attached (fd, fd_type): 0, or -1 when it is not attached. */
int E_activate_fd(int fd, int fd_type);
int E_deactivate_fd(int fd, int fd_type);
/* How many active descriptors are attached at this priority, or -1 for a bad priority. */
int E_num_active(int priority);

/* Runs the loop until E_exit_events(). Each pass runs the due timers, then every ready
 * descriptor of the highest priority (HIGH or MEDIUM) that has one ready, then at most one
 * ready LOW_PRIORITY descriptor, in turn (while the threshold is LOW_PRIORITY). A request to
 * exit made before the loop starts is forgotten, as in Spread. */
void E_handle_events(void);
/* Makes E_handle_events() return after the callback that is running (or at once, from another
 * thread or a signal handler). Both are async-signal-safe. */
void E_exit_events(void);
void E_exit_events_async_safe(void);

#ifdef __cplusplus
}
#endif

#endif /* INC_SP_EVENTS */
