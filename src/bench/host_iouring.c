/*
 * gupsim bench: the host kernel's per-page cost of pinning, measured through io_uring fixed-buffer
 * registration (IORING_REGISTER_BUFFERS pins with FOLL_WRITE | FOLL_LONGTERM, as the model's
 * pin_user_pages_fast benchmark does; IORING_UNREGISTER_BUFFERS unpins).
 *
 * Usage: host_iouring MIB RUNS [MIB RUNS]...
 * For each size: mmap a private anonymous buffer, MADV_NOHUGEPAGE, write every page (pre-faulted),
 * then RUNS times register + unregister it as one fixed buffer, timing each call with
 * clock_gettime(CLOCK_MONOTONIC). Prints one JSON object on stdout:
 *   {"rows":[{"bytes":N,"register_ns":[...],"unregister_ns":[...]}]}
 * (whole-call nanoseconds per run; the caller divides by pages and takes medians).
 * On failure prints "host_iouring: <step>: <strerror> (errno N)" on stderr and exits 2.
 *
 * Raw syscalls only (no liburing) and no kernel headers beyond <sys/syscall.h>, so it builds with any
 * libc. The rings are never mmapped: registration does not need them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif

#define MAX_RUNS 64

static void die(const char *step)
{
	int e = errno;
	fprintf(stderr, "host_iouring: %s: %s (errno %d)\n", step, strerror(e), e);
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	/* struct io_uring_params is 120 bytes in every release; a larger zeroed buffer is fine. */
	unsigned char params[256];
	long page = sysconf(_SC_PAGESIZE);
	int ring;

	if (argc < 3 || (argc - 1) % 2 != 0) {
		fprintf(stderr, "usage: host_iouring MIB RUNS [MIB RUNS]...\n");
		return 2;
	}
	/* Without CAP_IPC_LOCK, registered buffers count against RLIMIT_MEMLOCK: raise it if we may. */
	{
		struct rlimit rl;
		if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_MEMLOCK, &rl);
		}
	}
	memset(params, 0, sizeof(params));
	ring = (int)syscall(__NR_io_uring_setup, 1, params);
	if (ring < 0)
		die("io_uring_setup");

	printf("{\"page_size\":%ld,\"rows\":[", page);
	for (int a = 1; a < argc; a += 2) {
		size_t len = (size_t)strtoull(argv[a], NULL, 10) << 20;
		int runs = atoi(argv[a + 1]);
		uint64_t reg[MAX_RUNS], unreg[MAX_RUNS];
		struct iovec iov;
		char *buf;

		if (len == 0 || runs < 1 || runs > MAX_RUNS) {
			fprintf(stderr, "host_iouring: bad size or run count\n");
			return 2;
		}
		buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (buf == MAP_FAILED)
			die("mmap");
		if (madvise(buf, len, MADV_NOHUGEPAGE))
			die("madvise(MADV_NOHUGEPAGE)");
		for (size_t off = 0; off < len; off += (size_t)page)
			((volatile char *)buf)[off] = 1;
		iov.iov_base = buf;
		iov.iov_len = len;
		for (int r = 0; r < runs; r++) {
			uint64_t t0 = now_ns();
			if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1) < 0)
				die("io_uring_register(IORING_REGISTER_BUFFERS)");
			uint64_t t1 = now_ns();
			if (syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0) < 0)
				die("io_uring_register(IORING_UNREGISTER_BUFFERS)");
			uint64_t t2 = now_ns();
			reg[r] = t1 - t0;
			unreg[r] = t2 - t1;
		}
		munmap(buf, len);
		printf("%s{\"bytes\":%zu,\"register_ns\":[", a > 1 ? "," : "", len);
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
