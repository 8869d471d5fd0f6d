/*
 * gupsim bench: the host kernel's per-page cost of the memory paths the model times (src/bench/ops.ts),
 * measured with the same syscalls in the same order.
 *
 * Usage: host_ops BACKING MIB RUNS [BACKING MIB RUNS]...
 *        host_ops iouring MIB RUNS [MIB RUNS]...
 *   BACKING: base (MADV_NOHUGEPAGE), thp (MADV_HUGEPAGE), mthp (no madvise: the caller has set the
 *   mTHP size it wants to "always" in sysfs, the PMD size left to "madvise").
 * For each size and run, in fresh worker processes (so that only the pinning worker has MMF_HAS_PINNED):
 *   plain worker:  mmap + madvise, write one byte per page [fault], fork() [fork: until it returns in
 *                  the parent; the child _exit()s at once, waited for untimed], munmap() [munmap]
 *   exit worker:   mmap + madvise + fault, then waits; its exit is timed from "go" [exit],
 *                  and the same for a worker without the region [exit_empty], so that the caller can
 *                  take the region's share
 *   pin worker:    mmap + madvise + fault, IORING_REGISTER_BUFFERS of the region (iovecs of at most
 *                  1 GiB) [register], fork() [fork_pinned], IORING_UNREGISTER_BUFFERS [unregister]
 * Each time is the CPU time of a whole call (or of the touching loop) in nanoseconds: the calling
 * thread's CLOCK_THREAD_CPUTIME_ID, and for exit the worker's CPU time from "go" to its end (wait4()'s
 * rusage less what the worker had used before), so that other load on the machine does not count.
 * Prints one JSON
 * object on stdout: {"page_size":N,"rows":[{"backing":"base","bytes":N,"fault":[...],...}]}; the
 * caller drops warm-up runs, takes medians and divides by pages.
 * On failure prints "host_ops: <step>: <strerror> (errno N)" on stderr and exits 2.
 *
 * The iouring mode is the benchmark's pin figure (src/bench/host.ts): for each size, mmap a private
 * anonymous MADV_NOHUGEPAGE buffer, write every page, then RUNS times IORING_REGISTER_BUFFERS (FOLL_WRITE |
 * FOLL_LONGTERM pins) and IORING_UNREGISTER_BUFFERS of it as one fixed buffer on one ring, each call timed
 * in wall-clock nanoseconds (CLOCK_MONOTONIC). Prints
 *   {"page_size":N,"rows":[{"bytes":N,"register_ns":[...],"unregister_ns":[...]}]}
 *
 * Raw syscalls only (no liburing), so it builds with any libc. The rings are never mmapped: registration
 * does not need them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif
#define IORING_REGISTER_BUFFERS 0
#define IORING_UNREGISTER_BUFFERS 1
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif

#define MAX_RUNS 64
#define GIB (1ull << 30)
#define MAX_IOV 64

enum { T_FAULT, T_FORK, T_MUNMAP, T_EXIT, T_EXIT_EMPTY, T_REGISTER, T_FORK_PINNED, T_UNREGISTER, NR_T };
static const char *const names[NR_T] = { "fault",	"fork",	    "munmap",	       "exit",
					 "exit_empty", "register", "fork_pinned", "unregister" };

static void die(const char *step)
{
	int e = errno;
	fprintf(stderr, "host_ops: %s: %s (errno %d)\n", step, strerror(e), e);
	_exit(2);
}

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* An io_uring instance with one entry (only its registration calls are used). */
static int ring_setup(void)
{
	unsigned char params[256]; /* struct io_uring_params is 120 bytes; a larger zeroed buffer is fine */
	memset(params, 0, sizeof(params));
	int ring = (int)syscall(__NR_io_uring_setup, 1, params);
	if (ring < 0)
		die("io_uring_setup");
	return ring;
}

static void register_buffers(int ring, struct iovec *iov, int nr)
{
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, iov, nr) < 0)
		die("io_uring_register(IORING_REGISTER_BUFFERS)");
}

static void unregister_buffers(int ring)
{
	if (syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0) < 0)
		die("io_uring_register(IORING_UNREGISTER_BUFFERS)");
}

static long page;

/* mmap + madvise the region and write one byte per page; returns the touching loop's time. */
static char *faulted(size_t len, const char *backing, uint64_t *fault_ns)
{
	char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	/* THP-aligned mapping: the kernel aligns anonymous mappings of whole PMDs (6.7+). */
	if (!strcmp(backing, "base") && madvise(buf, len, MADV_NOHUGEPAGE))
		die("madvise(MADV_NOHUGEPAGE)");
	if (!strcmp(backing, "thp") && madvise(buf, len, MADV_HUGEPAGE))
		die("madvise(MADV_HUGEPAGE)");
	uint64_t t0 = now_ns();
	for (size_t off = 0; off < len; off += (size_t)page)
		((volatile char *)buf)[off] = 1;
	if (fault_ns)
		*fault_ns = now_ns() - t0;
	return buf;
}

static uint64_t timed_fork(void)
{
	uint64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(0);
	uint64_t t = now_ns() - t0;
	if (waitpid(pid, NULL, 0) < 0)
		die("waitpid");
	return t;
}

static void plain_worker(size_t len, const char *backing, int out)
{
	uint64_t t[3];
	char *buf = faulted(len, backing, &t[0]);
	t[1] = timed_fork();
	uint64_t t0 = now_ns();
	if (munmap(buf, len))
		die("munmap");
	t[2] = now_ns() - t0;
	if (write(out, t, sizeof(t)) != sizeof(t))
		die("write");
}

static void pin_worker(size_t len, const char *backing, int out)
{
	struct iovec iov[MAX_IOV];
	uint64_t t[3];
	int nr = 0;
	int ring = ring_setup();
	char *buf = faulted(len, backing, NULL);
	for (size_t off = 0; off < len && nr < MAX_IOV; off += GIB, nr++) {
		iov[nr].iov_base = buf + off;
		iov[nr].iov_len = len - off < GIB ? len - off : GIB;
	}
	uint64_t t0 = now_ns();
	register_buffers(ring, iov, nr);
	t[0] = now_ns() - t0;
	t[1] = timed_fork();
	t0 = now_ns();
	unregister_buffers(ring);
	t[2] = now_ns() - t0;
	if (write(out, t, sizeof(t)) != sizeof(t))
		die("write");
}

static uint64_t tv_ns(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
}

/*
 * A worker that maps and faults len bytes (none if 0), then exits when told. Its exit's CPU time is
 * what wait4() says it used in all, less what it reported using before "go" (microsecond figures).
 */
static uint64_t timed_exit(size_t len, const char *backing)
{
	int ready[2], go[2];
	char c = 0;
	uint64_t before = 0;
	struct rusage ru;
	if (pipe(ready) || pipe(go))
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct timespec ts;
		if (len)
			faulted(len, backing, NULL);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
		before = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		if (write(ready[1], &before, sizeof(before)) != sizeof(before) || read(go[0], &c, 1) != 1)
			die("pipe io");
		_exit(0);
	}
	if (read(ready[0], &before, sizeof(before)) != sizeof(before))
		die("read");
	if (write(go[1], &c, 1) != 1)
		die("write");
	if (wait4(pid, NULL, 0, &ru) < 0)
		die("wait4");
	uint64_t total = tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	return total > before ? total - before : 0;
}

/* Run fn in a fresh process and read its timings back. */
static void in_worker(void (*fn)(size_t, const char *, int), size_t len, const char *backing, uint64_t *t, size_t n)
{
	int p[2];
	if (pipe(p))
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(p[0]);
		fn(len, backing, p[1]);
		_exit(0);
	}
	close(p[1]);
	ssize_t got = read(p[0], t, n * sizeof(*t));
	int status = 0;
	waitpid(pid, &status, 0);
	close(p[0]);
	if (got != (ssize_t)(n * sizeof(*t)) || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "host_ops: a %s worker failed (status %d)\n", backing, status);
		exit(2);
	}
}

/* host_ops iouring MIB RUNS [MIB RUNS]...: register + unregister of one pre-faulted base-page buffer. */
static int iouring_main(int argc, char **argv)
{
	if (argc < 4 || (argc - 2) % 2 != 0) {
		fprintf(stderr, "usage: host_ops iouring MIB RUNS [MIB RUNS]...\n");
		return 2;
	}
	int ring = ring_setup();
	printf("{\"page_size\":%ld,\"rows\":[", page);
	for (int a = 2; a < argc; a += 2) {
		size_t len = (size_t)strtoull(argv[a], NULL, 10) << 20;
		int runs = atoi(argv[a + 1]);
		uint64_t reg[MAX_RUNS], unreg[MAX_RUNS];
		if (len == 0 || runs < 1 || runs > MAX_RUNS) {
			fprintf(stderr, "host_ops: bad size or run count\n");
			return 2;
		}
		struct iovec iov = { .iov_base = faulted(len, "base", NULL), .iov_len = len };
		for (int r = 0; r < runs; r++) {
			uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
			register_buffers(ring, &iov, 1);
			uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
			unregister_buffers(ring);
			reg[r] = t1 - t0;
			unreg[r] = clock_ns(CLOCK_MONOTONIC) - t1;
		}
		munmap(iov.iov_base, len);
		printf("%s{\"bytes\":%zu,\"register_ns\":[", a > 2 ? "," : "", len);
		for (int r = 0; r < runs; r++)
			printf("%s%llu", r ? "," : "", (unsigned long long)reg[r]);
		printf("],\"unregister_ns\":[");
		for (int r = 0; r < runs; r++)
			printf("%s%llu", r ? "," : "", (unsigned long long)unreg[r]);
		printf("]}");
	}
	printf("]}\n");
	close(ring);
	return 0;
}

int main(int argc, char **argv)
{
	static uint64_t t[NR_T][MAX_RUNS];

	page = sysconf(_SC_PAGESIZE);
	/* Without CAP_IPC_LOCK, registered buffers count against RLIMIT_MEMLOCK: raise it if we may. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &rl);
	}
	if (argc > 1 && !strcmp(argv[1], "iouring"))
		return iouring_main(argc, argv);
	if (argc < 4 || (argc - 1) % 3 != 0) {
		fprintf(stderr, "usage: host_ops BACKING MIB RUNS [BACKING MIB RUNS]...\n"
				"       host_ops iouring MIB RUNS [MIB RUNS]...\n");
		return 2;
	}
	printf("{\"page_size\":%ld,\"rows\":[", page);
	for (int a = 1; a < argc; a += 3) {
		const char *backing = argv[a];
		size_t len = (size_t)strtoull(argv[a + 1], NULL, 10) << 20;
		int runs = atoi(argv[a + 2]);
		if (strcmp(backing, "base") && strcmp(backing, "thp") && strcmp(backing, "mthp")) {
			fprintf(stderr, "host_ops: backing must be base, thp or mthp\n");
			return 2;
		}
		if (len == 0 || runs < 1 || runs > MAX_RUNS) {
			fprintf(stderr, "host_ops: bad size or run count\n");
			return 2;
		}
		for (int r = 0; r < runs; r++) {
			uint64_t v[3];
			in_worker(plain_worker, len, backing, v, 3);
			t[T_FAULT][r] = v[0];
			t[T_FORK][r] = v[1];
			t[T_MUNMAP][r] = v[2];
			t[T_EXIT][r] = timed_exit(len, backing);
			t[T_EXIT_EMPTY][r] = timed_exit(0, backing);
			in_worker(pin_worker, len, backing, v, 3);
			t[T_REGISTER][r] = v[0];
			t[T_FORK_PINNED][r] = v[1];
			t[T_UNREGISTER][r] = v[2];
		}
		printf("%s{\"backing\":\"%s\",\"bytes\":%zu", a > 1 ? "," : "", backing, len);
		for (int k = 0; k < NR_T; k++) {
			printf(",\"%s\":[", names[k]);
			for (int r = 0; r < runs; r++)
				printf("%s%llu", r ? "," : "", (unsigned long long)t[k][r]);
			printf("]");
		}
		printf("}");
		fflush(stdout);
	}
	printf("]}\n");
	return 0;
}
