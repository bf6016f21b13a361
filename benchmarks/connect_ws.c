/*
 * connect_ws.c: the load generator of the "connect over websocket" benchmark, in C.
 *
 * It does what loadgen.py's connect_ws scenario does (scenario_connect without the upgrade),
 * without Python's cost per connection, which capped that scenario at about 16k connections
 * per second on one CPU. --clients loops run at once (50 by default); each one, again and
 * again:
 *
 *   1. connects to --host:--port over TCP (non-blocking, TCP_NODELAY as asyncio does);
 *   2. sends the WebSocket upgrade request, GET /socket.io/?EIO=4&transport=websocket;
 *   3. reads the "HTTP/1.1 101" head and the Engine.IO open packet (a text frame "0{...}");
 *   4. sends "40" (join the main namespace) in a masked text frame;
 *   5. waits for the server's "40..." text frame, counts one connection, and drops the TCP
 *      connection with a reset (SO_LINGER {1, 0}, then close): no TIME_WAIT is left behind.
 *
 * An Engine.IO ping (a text frame "2") is answered with a pong ("3") whenever one comes. The
 * head and the frames may come in one read or split over several. A status other than 101,
 * a "44" (connect error), a close frame, the end of the stream or a socket error is an
 * error: counted by kind, after which the loop sleeps 10 ms and starts again. The first error
 * of each kind is described on stderr.
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
 * Usage: connect_ws --port PORT [--host 127.0.0.1] [--clients 50] [--interval 50]
 */

#define _GNU_SOURCE /* memmem */
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 4096        /* a connection's unparsed input: the head and a few frames */
#define ERROR_PAUSE_NS 10000000LL /* 10 ms: how long a loop sleeps after an error */
#define MAX_EVENTS 64

/* -- what the loops count ------------------------------------------------------------- */

/* The kinds of error, counted apart. Their names appear on the count lines. */
enum kind {
	E_CONNECT,       /* the TCP connection could not be made (refused, ...) */
	E_STATUS,        /* the answer to the upgrade request was not a 101 */
	E_CONNECT_ERROR, /* the server answered "40" with "44" */
	E_CLOSE_FRAME,   /* the server sent a WebSocket close frame */
	E_EOF,           /* the server ended the stream before the handshake was over */
	E_RESET,         /* the server reset the connection */
	E_SOCKET,        /* any other failure of a socket call, or a short write */
	E_PROTOCOL,      /* input that makes no sense: a masked frame, an overlong head */
	N_KINDS
};

static const char *const kind_names[N_KINDS] = {
	"connect", "status", "connect_error", "close_frame", "eof", "reset", "socket", "protocol",
};

static unsigned long long connections;      /* handshakes completed */
static unsigned long long errors[N_KINDS];  /* failures, by kind */

/* -- what is sent: built once at start-up ----------------------------------------------- */

static char request[512]; /* the upgrade request */
static size_t request_len;
static unsigned char join_frame[8]; /* "40", masked */
static size_t join_len;
static unsigned char pong_frame[8]; /* "3", masked */
static size_t pong_len;

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

enum state {
	SLEEPING,   /* after an error, until wake_at */
	CONNECTING, /* connect() in progress: waiting for the socket to be writable */
	WAIT_101,   /* request sent: waiting for the end of the response head */
	WAIT_OPEN,  /* waiting for the open packet "0{...}" */
	WAIT_40,    /* "40" sent: waiting for the server's "40..." */
};

/* One loop: its current connection (fd) and the input not parsed yet. */
struct conn {
	int fd; /* -1 while sleeping */
	enum state state;
	long long wake_at; /* SLEEPING: when to connect again (CLOCK_MONOTONIC, ns) */
	size_t len;        /* bytes in buf */
	unsigned char buf[BUF_SIZE];
};

static struct sockaddr_storage server_addr;
static socklen_t server_addr_len;
static int epoll_fd;
static int sleeping; /* loops in the SLEEPING state */

static volatile sig_atomic_t stopping;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Closes c's socket with a TCP reset rather than a FIN, so that no TIME_WAIT piles up. */
static void drop(struct conn *c)
{
	static const struct linger reset = {.l_onoff = 1, .l_linger = 0};

	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
	close(c->fd); /* also takes it out of the epoll set */
	c->fd = -1;
}

/* Counts an error of this kind, drops the connection and puts the loop to sleep. */
static void fail(struct conn *c, enum kind kind, const char *detail)
{
	if (errors[kind]++ == 0)
		fprintf(stderr, "connect_ws: first %s error: %s\n", kind_names[kind], detail);
	if (c->fd >= 0)
		drop(c);
	c->state = SLEEPING;
	c->wake_at = now_ns() + ERROR_PAUSE_NS;
	sleeping++;
}

/* Starts a new connection for loop c. */
static void start(struct conn *c)
{
	static const int one = 1;
	struct epoll_event ev;

	c->len = 0;
	c->state = CONNECTING;
	c->fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail(c, E_SOCKET, strerror(errno));
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&server_addr, server_addr_len) < 0 &&
	    errno != EINPROGRESS) {
		fail(c, E_CONNECT, strerror(errno));
		return;
	}
	/*
	 * Edge-triggered, for both directions at once: the socket becoming writable says the
	 * connection is made (reported even if connect() already succeeded), and later each
	 * arrival of data is one event. No epoll_ctl is needed after this one.
	 */
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		fail(c, E_SOCKET, strerror(errno));
}

/*
 * Sends data whole. What is sent is small (at most the request, a few hundred bytes) and the
 * socket's buffer is empty, so a short write does not happen; it would count as an error.
 */
static bool send_all(struct conn *c, const void *data, size_t len)
{
	ssize_t sent = send(c->fd, data, len, MSG_NOSIGNAL);

	if (sent == (ssize_t)len)
		return true;
	if (sent >= 0)
		fail(c, E_SOCKET, "short write");
	else
		fail(c, errno == ECONNRESET || errno == EPIPE ? E_RESET : E_SOCKET, strerror(errno));
	return false;
}

/*
 * Parses what c has read: the response head, then frames. Returns false when the connection
 * is over (a connection counted and a new one started, or an error counted), true when more
 * input is needed. An incomplete head or frame stays in the buffer for the next read.
 */
static bool parse(struct conn *c)
{
	unsigned char *p = c->buf;
	unsigned char *end = c->buf + c->len;

	if (c->state == WAIT_101) {
		unsigned char *head_end = memmem(p, c->len, "\r\n\r\n", 4);

		if (head_end == NULL)
			return true; /* the head is not all here yet */
		if (c->len < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
			char line[81];
			size_t n = strcspn((char *)p, "\r"); /* the status line: buf holds the \r */

			snprintf(line, sizeof line, "%.*s", (int)n, (char *)p);
			fail(c, E_STATUS, line);
			return false;
		}
		p = head_end + 4;
		c->state = WAIT_OPEN;
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
			if (!send_all(c, pong_frame, pong_len))
				return false;
			continue;
		}
		if (n >= 2 && data[0] == '4' && data[1] == '4') {
			fail(c, E_CONNECT_ERROR, "the server answered 44 (connect error)");
			return false;
		}
		if (c->state == WAIT_OPEN && n >= 2 && data[0] == '0' && data[1] == '{') {
			if (!send_all(c, join_frame, join_len))
				return false;
			c->state = WAIT_40;
		} else if (c->state == WAIT_40 && n >= 2 && data[0] == '4' && data[1] == '0') {
			connections++;
			drop(c);
			start(c);
			return false;
		}
		/* Any other text frame is ignored, as loadgen.py ignores it. */
	}

	/* Keep the incomplete rest at the start of the buffer. */
	c->len = (size_t)(end - p);
	memmove(c->buf, p, c->len);
	return true;
}

/* Handles the epoll events of loop c's connection. */
static void on_event(struct conn *c, uint32_t events)
{
	if (c->state == CONNECTING) {
		if (events & (EPOLLERR | EPOLLHUP)) {
			int err = 0;
			socklen_t len = sizeof err;

			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			fail(c, E_CONNECT, strerror(err ? err : ECONNREFUSED));
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		c->state = WAIT_101;
		if (!send_all(c, request, request_len))
			return;
	}
	if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;

	/*
	 * Read what is there. A read that does not fill the space given has emptied the socket,
	 * and whatever arrives later is a new edge: no read is wasted on an EAGAIN.
	 */
	for (;;) {
		size_t room = sizeof c->buf - c->len;
		ssize_t got;

		if (room == 0) {
			fail(c, E_PROTOCOL, "more than 4096 bytes without a complete head or frame");
			return;
		}
		got = read(c->fd, c->buf + c->len, room);
		if (got > 0) {
			c->len += (size_t)got;
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
			"[--interval MS]\n");
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

	/* What is sent, built once: the same request as loadgen.py's, and the two frames. */
	request_len = (size_t)snprintf(
		request, sizeof request,
		"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s:%s\r\n"
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		host, port);
	if (request_len >= sizeof request) {
		fprintf(stderr, "connect_ws: host name too long\n");
		return 1;
	}
	join_len = build_frame(join_frame, "40");
	pong_len = build_frame(pong_frame, "3");

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
	 * Watch stdin for its end (data.ptr NULL marks it). A regular file such as /dev/null
	 * cannot be watched (EPERM): then only a signal stops the program.
	 */
	struct epoll_event stdin_ev = {.events = EPOLLIN, .data.ptr = NULL};

	epoll_ctl(epoll_fd, EPOLL_CTL_ADD, STDIN_FILENO, &stdin_ev);

	struct conn *conns = calloc((size_t)clients, sizeof *conns);

	if (conns == NULL) {
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
			if (events[i].data.ptr != NULL) {
				on_event(events[i].data.ptr, events[i].events);
				continue;
			}
			char scratch[256]; /* stdin: anything typed is ignored, its end stops us */

			if (read(STDIN_FILENO, scratch, sizeof scratch) <= 0)
				stopping = 1;
		}
	}
	report();
	return 0;
}
