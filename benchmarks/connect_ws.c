/*
 * connect_ws.c: the load generator of the two "connect" benchmarks, in C.
 *
 * It does what loadgen.py's connect_ws and connect_upgrade scenarios do (scenario_connect),
 * without Python's cost per connection, which capped them at about 16k and 2.5k connections
 * per second on one CPU. --clients loops run at once (50 by default); each one, again and
 * again, connects to --host:--port over TCP (non-blocking, TCP_NODELAY as asyncio does) and:
 *
 * over WebSocket (the default):
 *   1. sends the WebSocket upgrade request, GET /socket.io/?EIO=4&transport=websocket;
 *   2. reads the "HTTP/1.1 101" head and the Engine.IO open packet (a text frame "0{...}");
 *   3. sends "40" (join the main namespace) in a masked text frame;
 *   4. waits for the server's "40..." text frame, counts one connection, and drops the TCP
 *      connection with a reset (SO_LINGER {1, 0}, then close): no TIME_WAIT is left behind.
 *
 * by polling, then upgrade (--upgrade), as the JavaScript client does, on one keep-alive
 * HTTP connection and then a WebSocket:
 *   1. GET /socket.io/?EIO=4&transport=polling: the open packet "0{"sid":...}" gives the sid;
 *   2. POST "40" (&sid=...), then GET until an answer holds a "40..." packet;
 *   3. sends one more GET, which the server holds, and opens the WebSocket (&sid=...);
 *   4. after its "101", sends "2probe" and waits for "3probe"; the server ends the held GET
 *      (with a noop, "6");
 *   5. once both have come, sends "5" (upgrade), closes the WebSocket cleanly (so the "5" is
 *      read before the end of the stream), drops the HTTP connection with a reset and counts
 *      one connection.
 *
 * An Engine.IO ping (a text frame "2") is answered with a pong ("3") whenever one comes. The
 * heads, bodies and frames may come in one read or split over several. A status other than
 * 101 (or 200 over polling), a "44" (connect error), a close frame, the end of the stream or a
 * socket error is an error: counted by kind, after which the loop sleeps 10 ms and starts
 * again. The first error of each kind is described on stderr.
 *
 * Every --interval milliseconds (50 by default) it prints the cumulative counts on a line of
 * its own, flushed: the connections made, then KIND=N for each kind of error seen so far,
 *
 *     182344 status=12 eof=1
 *
 * It exits on SIGTERM or SIGINT, or when its stdin (a pipe or a terminal) ends: loadgen.py
 * starts it with a pipe there, so it never outlives the load generator.
 *
 * Linux only (epoll); nothing beyond libc.
 * Build: cc -O2 -Wall -o connect_ws connect_ws.c      (make bench builds it)
 * Usage: connect_ws --port PORT [--host 127.0.0.1] [--clients 50] [--interval 50] [--upgrade]
 */

#define _GNU_SOURCE /* memmem, strncasecmp */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 4096        /* a connection's unparsed input: a head and a few frames */
#define SID_SIZE 64          /* the longest sid taken, with its NUL */
#define ERROR_PAUSE_NS 10000000LL /* 10 ms: how long a loop sleeps after an error */
#define MAX_EVENTS 64

/* -- what the loops count ------------------------------------------------------------- */

/* The kinds of error, counted apart. Their names appear on the count lines. */
enum kind {
	E_CONNECT,       /* the TCP connection could not be made (refused, ...) */
	E_STATUS,        /* the answer to a request was not a 101 (a 200 over polling) */
	E_CONNECT_ERROR, /* the server answered "40" with "44" */
	E_CLOSE_FRAME,   /* the server sent a WebSocket close frame */
	E_EOF,           /* the server ended the stream before the handshake was over */
	E_RESET,         /* the server reset the connection */
	E_SOCKET,        /* any other failure of a socket call, or a short write */
	E_PROTOCOL,      /* input that makes no sense: a masked frame, an overlong head, ... */
	N_KINDS
};

static const char *const kind_names[N_KINDS] = {
	"connect", "status", "connect_error", "close_frame", "eof", "reset", "socket", "protocol",
};

static unsigned long long connections;      /* handshakes completed */
static unsigned long long errors[N_KINDS];  /* failures, by kind */

/* -- what is sent: built once at start-up ----------------------------------------------- */

static bool upgrade;        /* --upgrade: polling, then the upgrade to WebSocket */
static char host_header[300]; /* "Host: HOST:PORT\r\n" */
static char request[512];   /* the WebSocket upgrade request (without a sid) */
static size_t request_len;
static unsigned char join_frame[8]; /* "40", masked */
static size_t join_len;
static unsigned char pong_frame[8]; /* "3", masked */
static size_t pong_len;
static unsigned char probe_frame[16]; /* "2probe", masked */
static size_t probe_len;
static unsigned char upgrade_frame[8]; /* "5", masked */
static size_t upgrade_len;

/*
 * Writes into out a client text frame carrying text (shorter than 126 bytes), masked as a
 * client must mask. The server unmasks whatever the mask, so one fixed mask is enough.
 */
static size_t build_frame(unsigned char *out, const char *text)
{
	static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
	size_t n = strlen(text);

	out[0] = 0x81;                       /* FIN, text */
	out[1] = 0x80 | (unsigned char)n;    /* masked, length */
	memcpy(out + 2, mask, 4);
	for (size_t i = 0; i < n; i++)
		out[6 + i] = (unsigned char)text[i] ^ mask[i & 3];
	return 6 + n;
}

/* -- the loops ------------------------------------------------------------------------- */

/* Where a loop's WebSocket stands (or, while it has none, the loop itself). */
enum state {
	IDLE,       /* --upgrade: no WebSocket yet (the polling part is under way) */
	SLEEPING,   /* after an error, until wake_at */
	RESTARTING, /* a connection counted: the next starts after this batch of events */
	CONNECTING, /* connect() in progress: waiting for the socket to be writable */
	WAIT_101,   /* request sent: waiting for the end of the response head */
	WAIT_OPEN,  /* waiting for the open packet "0{...}" */
	WAIT_40,    /* "40" sent: waiting for the server's "40..." */
	WAIT_PROBE, /* --upgrade: "2probe" sent: waiting for "3probe" */
	PROBED,     /* --upgrade: "3probe" came: waiting for the end of the held GET */
};

/* Where a loop's HTTP connection stands (--upgrade only): the answer it waits for. */
enum http_state {
	H_NONE,       /* no HTTP connection */
	H_CONNECTING, /* connect() in progress */
	H_OPEN,       /* the handshake GET */
	H_POST,       /* the POST of "40" */
	H_JOIN,       /* a GET, until one brings the "40..." */
	H_HELD,       /* the GET the server holds until the probe */
	H_ENDED,      /* the held GET came back: waiting for "3probe" */
};

/* One loop's side of a connection: its socket and the input not parsed yet. */
struct side {
	int fd; /* -1 when closed */
	size_t len; /* bytes in buf */
	unsigned char buf[BUF_SIZE];
};

/* One loop: its WebSocket (ws) and, with --upgrade, its HTTP connection (http). */
struct conn {
	enum state state;
	enum http_state http_state;
	long long wake_at; /* SLEEPING: when to connect again (CLOCK_MONOTONIC, ns) */
	struct side ws;
	struct side http;
	char sid[SID_SIZE];
};

/*
 * The epoll data of a socket: the address of its loop, with the low bit set for the HTTP
 * connection (struct conn is aligned to more than 2). 0 is stdin.
 */
#define HTTP_TAG 1u

static struct sockaddr_storage server_addr;
static socklen_t server_addr_len;
static int epoll_fd;
static int sleeping; /* loops in the SLEEPING state */
static struct conn **restarts; /* loops in the RESTARTING state */
static long n_restarts;

static volatile sig_atomic_t stopping;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Closes a socket with a TCP reset rather than a FIN, so that no TIME_WAIT piles up. */
static void drop(struct side *s)
{
	static const struct linger reset = {.l_onoff = 1, .l_linger = 0};

	if (s->fd < 0)
		return;
	setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
	close(s->fd); /* also takes it out of the epoll set */
	s->fd = -1;
}

/* Counts an error of this kind, drops the connections and puts the loop to sleep. */
static void fail(struct conn *c, enum kind kind, const char *detail)
{
	if (errors[kind]++ == 0)
		fprintf(stderr, "connect_ws: first %s error: %s\n", kind_names[kind], detail);
	drop(&c->ws);
	drop(&c->http);
	c->http_state = H_NONE;
	c->state = SLEEPING;
	c->wake_at = now_ns() + ERROR_PAUSE_NS;
	sleeping++;
}

/*
 * Counts a connection made. The next one starts once the current batch of events is handled:
 * a later event of the batch may be for a socket of this loop that is closed now.
 */
static void done(struct conn *c)
{
	connections++;
	c->state = RESTARTING;
	c->http_state = H_NONE;
	restarts[n_restarts++] = c;
}

/* Opens a socket to the server for side s of loop c (tag: 0 or HTTP_TAG); false on failure. */
static bool open_side(struct conn *c, struct side *s, unsigned tag)
{
	static const int one = 1;
	struct epoll_event ev;

	s->len = 0;
	s->fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		fail(c, E_SOCKET, strerror(errno));
		return false;
	}
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(s->fd, (struct sockaddr *)&server_addr, server_addr_len) < 0 &&
	    errno != EINPROGRESS) {
		fail(c, E_CONNECT, strerror(errno));
		return false;
	}
	/*
	 * Edge-triggered, for both directions at once: the socket becoming writable says the
	 * connection is made (reported even if connect() already succeeded), and later each
	 * arrival of data is one event. No epoll_ctl is needed after this one.
	 */
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
	ev.data.u64 = (uint64_t)(uintptr_t)c | tag;
	if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		fail(c, E_SOCKET, strerror(errno));
		return false;
	}
	return true;
}

/* Starts a new connection for loop c. */
static void start(struct conn *c)
{
	c->ws.fd = c->http.fd = -1;
	if (upgrade) {
		c->state = IDLE;
		c->http_state = H_CONNECTING;
		open_side(c, &c->http, HTTP_TAG);
	} else {
		c->state = CONNECTING;
		open_side(c, &c->ws, 0);
	}
}

/*
 * Sends data whole. What is sent is small (at most a request, a few hundred bytes) and the
 * socket's buffer is empty, so a short write does not happen; it would count as an error.
 */
static bool send_all(struct conn *c, struct side *s, const void *data, size_t len)
{
	ssize_t sent = send(s->fd, data, len, MSG_NOSIGNAL);

	if (sent == (ssize_t)len)
		return true;
	if (sent >= 0)
		fail(c, E_SOCKET, "short write");
	else
		fail(c, errno == ECONNRESET || errno == EPIPE ? E_RESET : E_SOCKET, strerror(errno));
	return false;
}

/* Sends a polling request of loop c: a GET, or with body a POST. */
static bool send_http(struct conn *c, const char *body)
{
	char out[512];
	const char *query = c->http_state == H_OPEN ? "" : "&sid=";
	const char *sid = c->http_state == H_OPEN ? "" : c->sid;
	int n;

	if (body == NULL)
		n = snprintf(out, sizeof out,
			     "GET /socket.io/?EIO=4&transport=polling%s%s HTTP/1.1\r\n%s\r\n", query,
			     sid, host_header);
	else
		n = snprintf(out, sizeof out,
			     "POST /socket.io/?EIO=4&transport=polling%s%s HTTP/1.1\r\n%s"
			     "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n\r\n%s",
			     query, sid, host_header, strlen(body), body);
	return send_all(c, &c->http, out, (size_t)n);
}

/* --upgrade, once both the "3probe" and the end of the held GET have come: the upgrade. */
static void finish_upgrade(struct conn *c)
{
	if (!send_all(c, &c->ws, upgrade_frame, upgrade_len))
		return;
	close(c->ws.fd); /* a FIN after the "5", not a reset: the server reads the "5" */
	c->ws.fd = -1;
	drop(&c->http);
	done(c);
}

/* Writes the status line at the start of head (up to its \r) into line, for a message. */
static void status_line(char *line, size_t size, const unsigned char *head, size_t len)
{
	const unsigned char *cr = memchr(head, '\r', len);

	snprintf(line, size, "%.*s", (int)(cr ? cr - head : (long)len), (const char *)head);
}

/*
 * Parses what the WebSocket of c has read: the response head, then frames. Returns false when
 * its reading is over (the loop counted a connection, failed, or waits for the other side),
 * true when more input is needed. An incomplete head or frame stays in the buffer.
 */
static bool parse_ws(struct conn *c)
{
	struct side *s = &c->ws;
	unsigned char *p = s->buf;
	unsigned char *end = s->buf + s->len;

	if (c->state == WAIT_101) {
		unsigned char *head_end = memmem(p, s->len, "\r\n\r\n", 4);

		if (head_end == NULL)
			return true; /* the head is not all here yet */
		if (s->len < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
			char line[81];

			status_line(line, sizeof line, p, s->len);
			fail(c, E_STATUS, line);
			return false;
		}
		p = head_end + 4;
		if (upgrade) {
			if (!send_all(c, s, probe_frame, probe_len))
				return false;
			c->state = WAIT_PROBE;
		} else {
			c->state = WAIT_OPEN;
		}
	}

	/* Frames from the server: FIN+opcode, length (7 bits, or 126 + 16, or 127 + 64), data. */
	while (end - p >= 2) {
		size_t head = 2;
		uint64_t n = p[1] & 0x7f;

		if (p[1] & 0x80) {
			fail(c, E_PROTOCOL, "a masked frame from the server");
			return false;
		}
		if (n == 126) {
			if (end - p < 4)
				break;
			n = (uint64_t)p[2] << 8 | p[3];
			head = 4;
		} else if (n == 127) {
			if (end - p < 10)
				break;
			n = 0;
			for (int i = 2; i < 10; i++)
				n = n << 8 | p[i];
			head = 10;
		}
		if (n > (uint64_t)(end - p) - head)
			break; /* not all here yet (a frame longer than the buffer fails below) */

		unsigned char opcode = p[0];
		const unsigned char *data = p + head;

		p += head + n;
		if (opcode == 0x88) {
			fail(c, E_CLOSE_FRAME, "the server sent a close frame");
			return false;
		}
		if (opcode != 0x81)
			continue; /* binary, continuation and control frames: not used here */
		if (n == 1 && data[0] == '2') { /* an Engine.IO ping */
			if (!send_all(c, s, pong_frame, pong_len))
				return false;
			continue;
		}
		if (n >= 2 && data[0] == '4' && data[1] == '4') {
			fail(c, E_CONNECT_ERROR, "the server answered 44 (connect error)");
			return false;
		}
		if (c->state == WAIT_OPEN && n >= 2 && data[0] == '0' && data[1] == '{') {
			if (!send_all(c, s, join_frame, join_len))
				return false;
			c->state = WAIT_40;
		} else if (c->state == WAIT_40 && n >= 2 && data[0] == '4' && data[1] == '0') {
			drop(s);
			done(c);
			return false;
		} else if (c->state == WAIT_PROBE && n == 6 && memcmp(data, "3probe", 6) == 0) {
			c->state = PROBED;
			if (c->http_state == H_ENDED) {
				finish_upgrade(c);
				return false;
			}
		}
		/* Any other text frame is ignored, as loadgen.py ignores it. */
	}

	/* Keep the incomplete rest at the start of the buffer. */
	s->len = (size_t)(end - p);
	memmove(s->buf, p, s->len);
	return true;
}

/* Whether the polling payload body (packets apart by \x1e) holds a packet starting with p2. */
static bool has_packet(const unsigned char *body, size_t len, const char *p2)
{
	const unsigned char *end = body + len;

	while (body < end) {
		const unsigned char *sep = memchr(body, 0x1e, (size_t)(end - body));
		const unsigned char *stop = sep ? sep : end;

		if (stop - body >= 2 && body[0] == (unsigned char)p2[0] && body[1] == (unsigned char)p2[1])
			return true;
		body = stop + 1;
	}
	return false;
}

/* The open packet's sid ("0{"sid":"...",...}") into c->sid; false if there is none. */
static bool take_sid(struct conn *c, const unsigned char *body, size_t len)
{
	static const char key[] = "\"sid\":\"";
	const unsigned char *at = memmem(body, len, key, sizeof key - 1);
	const unsigned char *value, *quote;

	if (len < 2 || body[0] != '0' || at == NULL)
		return false;
	value = at + sizeof key - 1;
	quote = memchr(value, '"', (size_t)(body + len - value));
	if (quote == NULL || quote - value >= SID_SIZE)
		return false;
	memcpy(c->sid, value, (size_t)(quote - value));
	c->sid[quote - value] = '\0';
	return true;
}

/*
 * Where the value of header name ("\r\nname:", lower case) starts in head (len bytes, ending
 * with the \r\n of its last line), spaces skipped; NULL without that header.
 */
static const unsigned char *header(const unsigned char *head, size_t len, const char *name)
{
	size_t n = strlen(name);
	const unsigned char *end = head + len;

	for (const unsigned char *p = head; (size_t)(end - p) >= n; p++) {
		if (*p == '\r' && strncasecmp((const char *)p, name, n) == 0) {
			for (p += n; p < end && *p == ' '; p++)
				;
			return p;
		}
	}
	return NULL;
}

/*
 * A chunked body at p (avail bytes there): its data, joined, into out (room bytes). Returns
 * the bytes the body takes at p, 0 if it is not all here yet, -1 if it is malformed or larger
 * than out. Trailers are not expected (no server here sends them).
 */
static long dechunk(const unsigned char *p, size_t avail, unsigned char *out, size_t room,
		    size_t *out_len)
{
	const unsigned char *start = p, *end = p + avail;

	*out_len = 0;
	for (;;) {
		const unsigned char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		size_t size = 0;
		const unsigned char *q = p;

		if (eol == NULL)
			return 0;
		for (; q < eol && *q != ';'; q++) {
			int digit = *q >= '0' && *q <= '9'   ? *q - '0'
				    : *q >= 'a' && *q <= 'f' ? *q - 'a' + 10
				    : *q >= 'A' && *q <= 'F' ? *q - 'A' + 10
							     : -1;

			if (digit < 0 || size > room)
				return -1;
			size = size * 16 + (size_t)digit;
		}
		if (q == p)
			return -1;
		p = eol + 2;
		if ((size_t)(end - p) < size + 2)
			return 0;
		if (size == 0)
			return p + 2 - start; /* the last chunk, and the empty line after it */
		if (*out_len + size > room)
			return -1;
		memcpy(out + *out_len, p, size);
		*out_len += size;
		p += size + 2;
	}
}

/*
 * Parses what the HTTP connection of c has read: whole responses, each answered by the next
 * request. Returns false when its reading is over (the loop failed or counted a connection),
 * true when more input is needed.
 */
static bool parse_http(struct conn *c)
{
	struct side *s = &c->http;

	for (;;) {
		unsigned char *head_end = memmem(s->buf, s->len, "\r\n\r\n", 4);

		if (head_end == NULL)
			return true;
		size_t head_len = (size_t)(head_end - s->buf) + 2; /* with its last \r\n */
		const unsigned char *length = header(s->buf, head_len, "\r\ncontent-length:");
		const unsigned char *body = head_end + 4;
		size_t avail = s->len - head_len - 2;
		size_t n;  /* the body's length */
		long used; /* the bytes the body takes in the stream */
		unsigned char joined[BUF_SIZE]; /* a chunked body's data */
		bool ok = true;

		if (s->len < 12 || memcmp(s->buf, "HTTP/1.1 200", 12) != 0) {
			char line[81];

			status_line(line, sizeof line, s->buf, s->len);
			fail(c, E_STATUS, line);
			return false;
		}
		if (length != NULL) {
			n = (size_t)strtoul((const char *)length, NULL, 10);
			if (head_len + 2 + n > sizeof s->buf)
				used = -1;
			else
				used = avail < n ? 0 : (long)n;
		} else if (header(s->buf, head_len, "\r\ntransfer-encoding: chunked\r\n")) {
			used = dechunk(body, avail, joined, sizeof joined, &n);
			body = joined;
		} else {
			used = -1;
		}
		if (used < 0) {
			fail(c, E_PROTOCOL, "a polling answer of no known length, or too long");
			return false;
		}
		if (used == 0 && !(length != NULL && n == 0))
			return true; /* the body is not all here yet */

		switch (c->http_state) {
		case H_OPEN:
			if (!take_sid(c, body, n)) {
				fail(c, E_PROTOCOL, "a handshake answer without a sid");
				return false;
			}
			c->http_state = H_POST;
			ok = send_http(c, "40");
			break;
		case H_POST:
			c->http_state = H_JOIN;
			ok = send_http(c, NULL);
			break;
		case H_JOIN:
			if (has_packet(body, n, "44")) {
				fail(c, E_CONNECT_ERROR, "the server answered 44 (connect error)");
				return false;
			}
			if (!has_packet(body, n, "40")) {
				ok = send_http(c, NULL); /* not yet: ask again */
				break;
			}
			/* The GET that the probe ends, and the WebSocket that probes. */
			c->http_state = H_HELD;
			ok = send_http(c, NULL) && open_side(c, &c->ws, 0);
			if (ok)
				c->state = CONNECTING;
			break;
		case H_HELD:
			c->http_state = H_ENDED;
			if (c->state == PROBED) {
				finish_upgrade(c);
				return false;
			}
			break;
		default:
			fail(c, E_PROTOCOL, "a polling answer to no request");
			return false;
		}
		if (!ok)
			return false; /* the loop failed and sleeps */
		s->len = avail - (size_t)used;
		memmove(s->buf, head_end + 4 + used, s->len);
	}
}

/* Reads what a side's socket has and parses it; false once the side is done with for now. */
static void read_side(struct conn *c, struct side *s, bool (*parse)(struct conn *))
{
	/*
	 * Read what is there. A read that does not fill the space given has emptied the socket,
	 * and whatever arrives later is a new edge: no read is wasted on an EAGAIN.
	 */
	for (;;) {
		size_t room = sizeof s->buf - s->len;
		ssize_t got;

		if (room == 0) {
			fail(c, E_PROTOCOL, "more than 4096 bytes without a complete head or frame");
			return;
		}
		got = read(s->fd, s->buf + s->len, room);
		if (got > 0) {
			s->len += (size_t)got;
			if (!parse(c) || (size_t)got < room)
				return;
		} else if (got == 0) {
			fail(c, E_EOF, "the server closed the connection");
			return;
		} else if (errno == EAGAIN) {
			return;
		} else if (errno != EINTR) {
			fail(c, errno == ECONNRESET ? E_RESET : E_SOCKET, strerror(errno));
			return;
		}
	}
}

/* Whether a socket whose connect() was in progress is connected now (else counts an error). */
static bool connected(struct conn *c, struct side *s, uint32_t events)
{
	if (events & (EPOLLERR | EPOLLHUP)) {
		int err = 0;
		socklen_t len = sizeof err;

		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		fail(c, E_CONNECT, strerror(err ? err : ECONNREFUSED));
		return false;
	}
	return (events & EPOLLOUT) != 0;
}

/* Handles the epoll events of loop c's WebSocket. */
static void on_ws_event(struct conn *c, uint32_t events)
{
	if (c->ws.fd < 0)
		return; /* closed in this batch of events */
	if (c->state == CONNECTING) {
		char out[sizeof request + SID_SIZE + 8];
		const char *data = request;
		size_t len = request_len;

		if (!connected(c, &c->ws, events))
			return;
		if (upgrade) { /* the same request, for the polling session */
			char *eol = strstr(request, " HTTP/1.1\r\n");

			len = (size_t)snprintf(out, sizeof out, "%.*s&sid=%s%s", (int)(eol - request),
					       request, c->sid, eol);
			data = out;
		}
		c->state = WAIT_101;
		if (!send_all(c, &c->ws, data, len))
			return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		read_side(c, &c->ws, parse_ws);
}

/* Handles the epoll events of loop c's HTTP connection (--upgrade). */
static void on_http_event(struct conn *c, uint32_t events)
{
	if (c->http.fd < 0)
		return; /* closed in this batch of events */
	if (c->http_state == H_CONNECTING) {
		if (!connected(c, &c->http, events))
			return;
		c->http_state = H_OPEN;
		if (!send_http(c, NULL))
			return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		read_side(c, &c->http, parse_http);
}

/* -- the main loop ----------------------------------------------------------------------- */

/* Prints the cumulative counts on one line. */
static void report(void)
{
	printf("%llu", connections);
	for (int k = 0; k < N_KINDS; k++)
		if (errors[k])
			printf(" %s=%llu", kind_names[k], errors[k]);
	putchar('\n');
	if (fflush(stdout) != 0)
		exit(0); /* whoever read the counts is gone */
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: connect_ws --port PORT [--host 127.0.0.1] [--clients 50] "
			"[--interval MS] [--upgrade]\n");
	exit(2);
}

/* The value of a numeric option, within [min, max]. */
static long number(const char *text, long min, long max)
{
	char *rest;
	long value = strtol(text, &rest, 10);

	if (*text == '\0' || *rest != '\0' || value < min || value > max)
		usage();
	return value;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	const char *port = NULL;
	long clients = 50;
	long interval_ms = 50;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--upgrade") == 0) {
			upgrade = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--host") == 0)
			host = argv[++i];
		else if (strcmp(argv[i], "--port") == 0)
			port = argv[++i];
		else if (strcmp(argv[i], "--clients") == 0)
			clients = number(argv[++i], 1, 100000);
		else if (strcmp(argv[i], "--interval") == 0)
			interval_ms = number(argv[++i], 1, 60000);
		else
			usage();
	}
	if (port == NULL)
		usage();
	number(port, 1, 65535);

	/* The server's address, resolved once. */
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *found;
	int rc = getaddrinfo(host, port, &hints, &found);

	if (rc != 0) {
		fprintf(stderr, "connect_ws: %s: %s\n", host, gai_strerror(rc));
		return 1;
	}
	memcpy(&server_addr, found->ai_addr, found->ai_addrlen);
	server_addr_len = found->ai_addrlen;
	freeaddrinfo(found);

	/* What is sent, built once: the same requests as loadgen.py's, and the frames. */
	if ((size_t)snprintf(host_header, sizeof host_header, "Host: %s:%s\r\n", host, port) >=
	    sizeof host_header) {
		fprintf(stderr, "connect_ws: host name too long\n");
		return 1;
	}
	request_len = (size_t)snprintf(
		request, sizeof request,
		"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n%s"
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		host_header);
	if (request_len >= sizeof request) {
		fprintf(stderr, "connect_ws: host name too long\n");
		return 1;
	}
	join_len = build_frame(join_frame, "40");
	pong_len = build_frame(pong_frame, "3");
	probe_len = build_frame(probe_frame, "2probe");
	upgrade_len = build_frame(upgrade_frame, "5");

	/* SIGTERM and SIGINT interrupt epoll_wait (no SA_RESTART) and end the main loop. */
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (epoll_fd < 0) {
		perror("connect_ws: epoll_create1");
		return 1;
	}
	/*
	 * Watch stdin for its end (data 0 marks it). A regular file such as /dev/null cannot be
	 * watched (EPERM): then only a signal stops the program.
	 */
	struct epoll_event stdin_ev = {.events = EPOLLIN, .data.u64 = 0};

	epoll_ctl(epoll_fd, EPOLL_CTL_ADD, STDIN_FILENO, &stdin_ev);

	struct conn *conns = calloc((size_t)clients, sizeof *conns);

	restarts = calloc((size_t)clients, sizeof *restarts);
	if (conns == NULL || restarts == NULL) {
		perror("connect_ws: calloc");
		return 1;
	}
	for (long i = 0; i < clients; i++)
		start(&conns[i]);

	long long interval_ns = interval_ms * 1000000LL;
	long long next_report = now_ns() + interval_ns;
	struct epoll_event events[MAX_EVENTS];

	while (!stopping) {
		long long now = now_ns();
		long long deadline;

		if (now >= next_report) {
			report();
			next_report = now + interval_ns;
		}
		deadline = next_report;
		/* Wake the loops whose pause after an error is over. */
		for (long i = 0; sleeping > 0 && i < clients; i++) {
			struct conn *c = &conns[i];

			if (c->state != SLEEPING)
				continue;
			if (c->wake_at <= now) {
				sleeping--;
				start(c); /* which may fail and sleep again */
			}
			if (c->state == SLEEPING && c->wake_at < deadline)
				deadline = c->wake_at;
		}

		int timeout_ms = (int)((deadline - now + 999999) / 1000000);
		int n = epoll_wait(epoll_fd, events, MAX_EVENTS, timeout_ms > 0 ? timeout_ms : 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("connect_ws: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			uint64_t data = events[i].data.u64;

			if (data != 0) {
				struct conn *c = (struct conn *)(uintptr_t)(data & ~(uint64_t)HTTP_TAG);

				if (data & HTTP_TAG)
					on_http_event(c, events[i].events);
				else
					on_ws_event(c, events[i].events);
				continue;
			}
			char scratch[256]; /* stdin: anything typed is ignored, its end stops us */

			if (read(STDIN_FILENO, scratch, sizeof scratch) <= 0)
				stopping = 1;
		}
		/* The loops that counted a connection in this batch start their next one. */
		for (long i = 0; i < n_restarts; i++)
			start(restarts[i]);
		n_restarts = 0;
	}
	report();
	return 0;
}
