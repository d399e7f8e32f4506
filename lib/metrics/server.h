/*
 * server.h - the HTTP endpoints of a running lagscale (libmicrohttpd, on
 * its own thread):
 *
 *   GET /metrics   the exposition text the loop last published, as it is
 *   GET /healthz   200 "ok" while the loop finishes ticks; 503 when none
 *                  finished for longer than the stale limit (three polling
 *                  intervals), so a loop stuck on a Kafka request makes the
 *                  kubelet restart the pod
 *   GET /readyz    200 once the loop said it is ready (config loaded, first
 *                  tick done), 503 before
 *
 * HEAD works too; other methods get 405, other paths 404.
 *
 * The loop renders the text and publishes it: the server takes the buffer
 * under a mutex. A scrape sends the text without copying it: the text is
 * shared by the server and the responses sending it, and freed when the
 * last of them lets go (at 10,000 scalers the text is 16 MB, and a copy
 * per scrape doubled the memory it takes). Health is two numbers and a
 * flag under the same mutex.
 *
 * Rendering on scrape. The registry belongs to the loop's thread (so its
 * updates need no lock), and rendering tens of thousands of series costs
 * milliseconds: too much after every round, and wasted when nobody
 * scrapes. So the loop renders only for a scrape, and at most once per
 * render interval (its shortest polling interval). A GET of /metrics whose
 * text is at least the render interval old waits (up to 1 s) for the loop
 * to publish a fresh one; the loop looks whenever it has a moment (between
 * rounds and while a round waits on Kafka, every 100 ms):
 *
 *     if (ls_metrics_server_render_wanted(srv, ls_clock_mono_ms())) {
 *             render into buf; ls_metrics_server_publish(srv, &buf);
 *     }
 *
 * (rendering even when no round changed anything: the process_* series
 * change by themselves, and a scrape would otherwise wait its second out
 * for nothing); and it publishes at once
 * (without asking) when something must show now: at start, after a
 * reload, on a change of leadership. A scrape thus reads text at most one
 * render interval old, and nothing is rendered while nobody scrapes. The
 * text is not kept once it is a render interval old (the loop's next tick
 * drops it): a later scrape gets a fresh render anyway, and at 10,000
 * scalers the text is 16 MB, held for nothing between scrapes that come
 * less often than rounds. So a scrape that finds no fresh text and waits
 * its second out (the loop is busy) gets 503, where it used to get stale
 * text. The server has one thread:
 * a /healthz or /readyz that comes while a scrape waits is answered after
 * it (within that second).
 *
 * Thread-safety: every function may be called from any thread, except
 * _free, which must not race with any other call on the same server.
 */
#ifndef LS_METRICS_SERVER_H
#define LS_METRICS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ls_buf;
struct ls_metrics_server;

/*
 * Parses "host:port", "[v6]:port" or ":port" (every IPv4 address) with
 * port 0-65535, and starts listening there (port 0: a free port, see
 * ls_metrics_server_port). The health clock starts now: /healthz turns 503
 * if no tick is reported within the stale limit (default 45 s). Returns 0
 * and *ret; -EINVAL when the address does not parse or resolve, -ENOMEM,
 * or the negative errno of binding (e.g. -EADDRINUSE); errbuf says which.
 * *ret untouched on failure.
 */
int ls_metrics_server_new(const char *address, struct ls_metrics_server **ret, char *errbuf,
                          size_t errlen);

/* Closes the listening socket and every connection, joins the thread and
 * frees everything. Returns within a moment: a scrape in progress is cut
 * off. NULL is a no-op. */
void ls_metrics_server_free(struct ls_metrics_server *s);

/* The port listened on (the one picked, after port 0). */
int ls_metrics_server_port(const struct ls_metrics_server *s);

/*
 * Publishes text as the next /metrics answer: the server takes its memory
 * and leaves *text empty (initialized, with the same cap), ready for the
 * next render. The text published before is freed once no scrape sends it
 * any more. Records the time and the scrapes so far for
 * ls_metrics_server_render_wanted. Out of memory, the text is dropped and
 * the last one stays.
 */
void ls_metrics_server_publish(struct ls_metrics_server *s, struct ls_buf *text);

/*
 * Whether the loop should render and publish now: true before the first
 * publish, and when /metrics was fetched (GET) since the last publish and
 * that publish is at least the render interval old at now_ms
 * (ls_clock_mono_ms()). Cheap: a mutex and three comparisons, so the loop
 * may ask after every round. NULL: false.
 */
bool ls_metrics_server_render_wanted(struct ls_metrics_server *s, int64_t now_ms);

/* The render interval of ls_metrics_server_render_wanted: min_ms >= 0
 * (0: every scrape may have a render); default 5000. Negative values and
 * NULL are ignored. */
void ls_metrics_server_set_render_interval(struct ls_metrics_server *s, int64_t min_ms);

/* GETs of /metrics answered so far (for tests and logs); NULL: 0. */
uint64_t ls_metrics_server_scrapes(struct ls_metrics_server *s);

/* The loop finished a tick at mono_ms (ls_clock_mono_ms()); published
 * text a render interval old by then is dropped (see the top). */
void ls_metrics_server_tick(struct ls_metrics_server *s, int64_t mono_ms);

/* /healthz fails when no tick finished in the last stale_ms (> 0). */
void ls_metrics_server_set_stale_after(struct ls_metrics_server *s, int64_t stale_ms);

void ls_metrics_server_set_ready(struct ls_metrics_server *s, bool ready);

/*
 * The health rule, exposed for tests: healthy when now_ms - last_tick_ms
 * <= stale_ms.
 */
bool ls_metrics_server_healthy(int64_t last_tick_ms, int64_t now_ms, int64_t stale_ms);

#endif
