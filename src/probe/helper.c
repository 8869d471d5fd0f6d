/*
 * gupsim probe helper: runs scenario steps with real system calls for the live-kernel engine
 * (src/probe/engine.ts). Built by src/probe/build.ts with the system cc on first use.
 *
 * Processes
 *   The process Node starts is the *supervisor*: it never runs a scenario step itself. It reads
 *   commands on stdin and answers one JSON line per command on stdout:
 *     hello            {"ret":0,"errno":null,"pid":N,"page_size":4096,"gup_test":false}
 *     spawn fd=N       fork a new scenario process (a *worker*) that talks on descriptor N
 *     inspect pid=P addr=A pages=N   as the worker command below, for worker P
 *     quit             kill every worker (the rest of the process group), reap them, exit
 *   End of input on stdin does what quit does, so the helpers never outlive the Node process.
 *   Node starts the supervisor in a process group of its own (detached) with spare socketpair
 *   descriptors 3..3+K-1, one per future scenario process. It is a child subreaper and ignores
 *   SIGCHLD: a worker whose parent exited is reparented to it and reaped at once.
 *
 *   A worker reads commands on its descriptor and answers on the same descriptor, one JSON line
 *   per command; end of input makes it exit. `fork fd=N` forks the worker: the child is a real
 *   process (its own copy of the address space, MMF_HAS_PINNED and all) that continues as a worker
 *   on descriptor N, blocked in read(2) until a command arrives for it.
 *
 * Worker commands (key=value arguments; numbers in decimal or 0x hex; every reply has "ret",
 * negative on failure, and "errno", the symbolic name or null):
 *   pid                                    -> "pid"
 *   sleep ms=N                             answer after N ms (tests of the engine's timeout)
 *   setproc memlock=BYTES uid=U gid=G nocap=0|1   RLIMIT_MEMLOCK; become user U (all capabilities
 *                                          gone); nocap drops only CAP_IPC_LOCK
 *   mmap kind=anon|shmem|memfd|file|hugetlb shared=0|1 size=N prot=rw|r align=N populate=0|1
 *        noreserve=0|1 huge=2M|1G path=P offset=N   -> "addr", "len"
 *   munmap addr= len=      mprotect addr= len= prot=rw|r      madvise addr= len= advice=NUM
 *   touch addr= len= write=0|1             one access per page; SIGSEGV/SIGBUS -> -EFAULT
 *   fork fd=N                              -> "pid" of the child
 *   exit                                   answers, then _exit(0)
 *   uring_setup                            -> ret: the ring's descriptor
 *   uring_register fd=F iov=ADDR:LEN[,ADDR:LEN...]     IORING_REGISTER_BUFFERS
 *   uring_unregister fd=F                  IORING_UNREGISTER_BUFFERS
 *   close fd=F[,G...]
 *   odirect path=P read=0|1 foff=N addr=A len=L        open(O_DIRECT) + pread/pwrite
 *   pvm pid=P write=0|1 addr=A len=L [local=B]   process_vm_readv/writev of P's [A, A+L), to/from
 *                                          this process's [B, B+L) or a scratch buffer
 *   vmsplice addr=A len=L [rfd=R wfd=W]    into pipe W (default: a new pipe, kept open) -> "rfd", "wfd"
 *   inspect [pid=P] addr=A pages=N         /proc/P/pagemap (default self), /proc/kpagecount,
 *                                          /proc/kpageflags -> "pages":[{present,pfn,mapcount,flags,order}]
 *                                          (also a supervisor command: it reads a worker's pagemap as root)
 *
 * Raw syscalls only (io_uring_setup / io_uring_register through syscall(2), no liburing), so it
 * builds with any libc and without kernel headers beyond what glibc ships.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <dirent.h>
#include <grp.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif
#ifndef __NR_memfd_create
#define __NR_memfd_create 319
#endif
#define IORING_REGISTER_BUFFERS 0
#define IORING_UNREGISTER_BUFFERS 1
#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef PR_SET_CHILD_SUBREAPER
#define PR_SET_CHILD_SUBREAPER 36
#endif
#ifndef SPLICE_F_NONBLOCK
#define SPLICE_F_NONBLOCK 2
#endif
#ifndef O_DIRECT
#define O_DIRECT 040000
#endif

#define LINE_MAX_BYTES (256 * 1024)
#define OUT_MAX_BYTES (1024 * 1024)
#define MAX_ARGS 32
#define MAX_IOVECS 64
#define MAX_INSPECT 1024
#define PAGE 4096UL

/* ---------------------------------------------------------------------------------------------- */
/* Output: one JSON line per command. */

static char out[OUT_MAX_BYTES];
static size_t outlen;
static int outfd = 1;

static void emit(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (outlen >= sizeof(out) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(out + outlen, sizeof(out) - outlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		outlen += (size_t)n < sizeof(out) - outlen ? (size_t)n : sizeof(out) - outlen - 1;
}

static void flush_line(void)
{
	size_t done = 0;

	emit("}\n");
	while (done < outlen) {
		ssize_t w = write(outfd, out + done, outlen - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3);
		done += (size_t)w;
	}
	outlen = 0;
}

static const char *errno_name(int e)
{
	static char buf[16];

	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case EMFILE: return "EMFILE";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case ESPIPE: return "ESPIPE";
	case EMLINK: return "EMLINK";
	case EPIPE: return "EPIPE";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case EOVERFLOW: return "EOVERFLOW";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EREMOTEIO: return "EREMOTEIO";
	case EHWPOISON: return "EHWPOISON";
	default:
		snprintf(buf, sizeof(buf), "E%d", e);
		return buf;
	}
}

/* Start a reply: ret >= 0 is a result, ret < 0 is -errno. */
static void reply(long long ret)
{
	outlen = 0;
	if (ret < 0)
		emit("{\"ret\":%lld,\"errno\":\"%s\"", ret, errno_name((int)-ret));
	else
		emit("{\"ret\":%lld,\"errno\":null", ret);
}

static void reply_str(const char *key, const char *value)
{
	emit(",\"%s\":\"", key);
	for (const char *p = value; *p; p++) {
		if (*p == '"' || *p == '\\')
			emit("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			emit("\\u%04x", *p);
		else
			emit("%c", *p);
	}
	emit("\"");
}

static void fail_usage(const char *msg)
{
	reply(-EINVAL);
	reply_str("error", msg);
	flush_line();
}

/* ---------------------------------------------------------------------------------------------- */
/* Input: newline-terminated commands, split into words. */

static char inbuf[LINE_MAX_BYTES];
static size_t inlen;
static int infd;

/* The next line (without newline) or NULL at end of input. */
static char *read_line(void)
{
	static char line[LINE_MAX_BYTES];

	for (;;) {
		char *nl = memchr(inbuf, '\n', inlen);
		if (nl) {
			size_t n = (size_t)(nl - inbuf);
			memcpy(line, inbuf, n);
			line[n] = 0;
			memmove(inbuf, nl + 1, inlen - n - 1);
			inlen -= n + 1;
			return line;
		}
		if (inlen == sizeof(inbuf))
			inlen = 0; /* an overlong line: drop it */
		ssize_t r = read(infd, inbuf + inlen, sizeof(inbuf) - inlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		inlen += (size_t)r;
	}
}

static int argc_;
static char *argv_[MAX_ARGS];

static void split(char *line)
{
	char *save = NULL;

	argc_ = 0;
	for (char *t = strtok_r(line, " \t", &save); t && argc_ < MAX_ARGS; t = strtok_r(NULL, " \t", &save))
		argv_[argc_++] = t;
}

static const char *arg(const char *key)
{
	size_t k = strlen(key);

	for (int i = 1; i < argc_; i++)
		if (strncmp(argv_[i], key, k) == 0 && argv_[i][k] == '=')
			return argv_[i] + k + 1;
	return NULL;
}

static unsigned long long num(const char *key, unsigned long long dflt)
{
	const char *v = arg(key);

	return v ? strtoull(v, NULL, 0) : dflt;
}

/* ---------------------------------------------------------------------------------------------- */
/* Touching memory: a fault the kernel cannot satisfy is a signal; turn it into -EFAULT. */

static sigjmp_buf touch_jb;
static volatile sig_atomic_t touching;

static void on_fault(int sig)
{
	if (touching)
		siglongjmp(touch_jb, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void cmd_touch(void)
{
	unsigned long addr = num("addr", 0), len = num("len", 0);
	volatile int wr = (int)num("write", 0);
	volatile unsigned long a = addr;
	volatile unsigned long end = addr + len;
	int sig;

	sig = sigsetjmp(touch_jb, 1);
	if (sig) {
		touching = 0;
		reply(-EFAULT);
		reply_str("signal", sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
		emit(",\"at\":%lu", (unsigned long)a);
		flush_line();
		return;
	}
	touching = 1;
	while (a < end) {
		if (wr)
			*(volatile unsigned char *)a = 0x5a;
		else
			(void)*(volatile unsigned char *)a;
		a = (a & ~(PAGE - 1)) + PAGE;
	}
	touching = 0;
	reply(0);
	flush_line();
}

/* ---------------------------------------------------------------------------------------------- */
/* Mappings. */

static int prot_of(const char *p)
{
	return p && strcmp(p, "r") == 0 ? PROT_READ : PROT_READ | PROT_WRITE;
}

static void cmd_mmap(void)
{
	const char *kind = arg("kind"), *path = arg("path"), *huge = arg("huge");
	int shared = (int)num("shared", 0), populate = (int)num("populate", 0), noreserve = (int)num("noreserve", 0);
	int prot = prot_of(arg("prot"));
	unsigned long size = num("size", 0), align = num("align", 0), offset = num("offset", 0);
	unsigned long unit = PAGE, len;
	int flags = shared ? MAP_SHARED : MAP_PRIVATE, fd = -1;
	void *p;

	if (!kind || !size) {
		fail_usage("mmap needs kind and size");
		return;
	}
	if (strcmp(kind, "anon") == 0) {
		flags |= MAP_ANONYMOUS;
	} else if (strcmp(kind, "shmem") == 0 && shared) {
		flags |= MAP_ANONYMOUS;
	} else if (strcmp(kind, "memfd") == 0 || strcmp(kind, "shmem") == 0) {
		/* shmem with shared=0: a private mapping of a shmem file, as the model has it */
		fd = (int)syscall(__NR_memfd_create, "gupsim", 0);
		if (fd < 0 || ftruncate(fd, (off_t)((size + PAGE - 1) & ~(PAGE - 1))) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			reply(-e);
			flush_line();
			return;
		}
	} else if (strcmp(kind, "file") == 0) {
		if (!path) {
			fail_usage("mmap kind=file needs path");
			return;
		}
		fd = open(path, (prot & PROT_WRITE) || !shared ? O_RDWR : O_RDONLY);
		if (fd < 0) {
			reply(-errno);
			flush_line();
			return;
		}
	} else if (strcmp(kind, "hugetlb") == 0) {
		int shift = huge && strcmp(huge, "1G") == 0 ? 30 : 21;
		unit = 1UL << shift;
		flags |= MAP_ANONYMOUS | MAP_HUGETLB | (shift << MAP_HUGE_SHIFT);
	} else {
		fail_usage("unknown mmap kind");
		return;
	}
	if (populate)
		flags |= MAP_POPULATE;
	if (noreserve)
		flags |= MAP_NORESERVE;
	len = (size + unit - 1) & ~(unit - 1);
	if (align < unit)
		align = unit;
	/*
	 * Reserve room for the mapping, its alignment and a PROT_NONE guard page on each side, place
	 * the mapping at the first aligned address after the first guard, and give back the rest. The
	 * guards keep other mappings from being adjacent: an access past the region's end faults, as
	 * the model has it, instead of landing in whatever was mapped next (the helper's own memory).
	 */
	char *res = mmap(NULL, len + align + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED) {
		reply(-errno);
		flush_line();
		if (fd >= 0)
			close(fd);
		return;
	}
	char *at = (char *)(((unsigned long)res + PAGE + align - 1) & ~(align - 1));
	char *rend = res + len + align + 2 * PAGE;
	p = mmap(at, len, prot, flags | MAP_FIXED, fd, (off_t)offset);
	{
		int e = errno;
		if (p == MAP_FAILED) {
			munmap(res, (size_t)(rend - res));
		} else {
			if (at - PAGE > res)
				munmap(res, (size_t)(at - PAGE - res));
			if (at + len + PAGE < rend)
				munmap(at + len + PAGE, (size_t)(rend - (at + len + PAGE)));
		}
		errno = e;
	}
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (p == MAP_FAILED) {
		reply(-e);
		flush_line();
		return;
	}
	reply(0);
	emit(",\"addr\":%lu,\"len\":%lu", (unsigned long)p, len);
	flush_line();
}

static void cmd_simple(long r)
{
	reply(r < 0 ? -errno : r);
	flush_line();
}

/* ---------------------------------------------------------------------------------------------- */
/* Processes. */

static void become_worker(int fd)
{
	int null = open("/dev/null", O_RDWR);

	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		if (null > 2)
			close(null);
	}
	infd = outfd = fd;
	inlen = 0;
}

static void cmd_fork(void)
{
	int fd = (int)num("fd", 0);
	pid_t pid;

	if (fd < 3) {
		fail_usage("fork needs fd>=3");
		return;
	}
	pid = fork();
	if (pid < 0) {
		cmd_simple(-1);
		return;
	}
	if (pid == 0) {
		close(infd);
		become_worker(fd);
		return; /* the child answers nothing now: it waits for its first command */
	}
	close(fd);
	reply(0);
	emit(",\"pid\":%d", (int)pid);
	flush_line();
}

struct cap_header { uint32_t version; int pid; };
struct cap_data { uint32_t effective, permitted, inheritable; };
#define CAP_V3 0x20080522
#define CAP_IPC_LOCK_BIT 14

static void cmd_setproc(void)
{
	const char *ml = arg("memlock");

	if (ml) {
		struct rlimit rl = { strtoull(ml, NULL, 0), strtoull(ml, NULL, 0) };
		if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
			cmd_simple(-1);
			return;
		}
	}
	if (arg("uid")) {
		/* A user of its own: io_uring charges locked_vm to the ring creator's user_struct. */
		uid_t uid = (uid_t)num("uid", 0);
		gid_t gid = (gid_t)num("gid", uid);
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
			cmd_simple(-1);
			return;
		}
	}
	if (num("nocap", 0)) {
		struct cap_header h = { CAP_V3, 0 };
		struct cap_data d[2];
		if (syscall(SYS_capget, &h, d) < 0) {
			cmd_simple(-1);
			return;
		}
		d[0].effective &= ~(1u << CAP_IPC_LOCK_BIT);
		d[0].permitted &= ~(1u << CAP_IPC_LOCK_BIT);
		d[0].inheritable &= ~(1u << CAP_IPC_LOCK_BIT);
		if (syscall(SYS_capset, &h, d) < 0) {
			cmd_simple(-1);
			return;
		}
	}
	reply(0);
	flush_line();
}

/* ---------------------------------------------------------------------------------------------- */
/* Consumers of GUP. */

static void cmd_uring_setup(void)
{
	/* struct io_uring_params is 120 bytes in every release; a larger zeroed buffer is fine. */
	unsigned char params[256];

	memset(params, 0, sizeof(params));
	cmd_simple(syscall(__NR_io_uring_setup, 4, params));
}

static void cmd_uring_register(void)
{
	struct iovec iov[MAX_IOVECS];
	int n = 0, fd = (int)num("fd", (unsigned long long)-1);
	const char *s = arg("iov");

	while (s && *s && n < MAX_IOVECS) {
		char *end;
		iov[n].iov_base = (void *)strtoul(s, &end, 0);
		if (*end != ':') {
			fail_usage("iov=ADDR:LEN,...");
			return;
		}
		iov[n].iov_len = strtoul(end + 1, &end, 0);
		n++;
		s = *end == ',' ? end + 1 : end;
	}
	cmd_simple(syscall(__NR_io_uring_register, fd, IORING_REGISTER_BUFFERS, iov, n));
}

static void cmd_close(void)
{
	const char *s = arg("fd");
	long r = 0;

	while (s && *s) {
		char *end;
		long fd = strtol(s, &end, 0);
		if (end == s)
			break;
		if (close((int)fd) < 0)
			r = -1;
		s = *end == ',' ? end + 1 : end;
	}
	cmd_simple(r);
}

static void cmd_odirect(void)
{
	const char *path = arg("path");
	int rd = (int)num("read", 1);
	unsigned long addr = num("addr", 0), len = num("len", 0), foff = num("foff", 0);
	int fd;
	ssize_t r;

	if (!path) {
		fail_usage("odirect needs path");
		return;
	}
	fd = open(path, O_RDWR | O_DIRECT);
	if (fd < 0) {
		cmd_simple(-1);
		return;
	}
	r = rd ? pread(fd, (void *)addr, len, (off_t)foff) : pwrite(fd, (void *)addr, len, (off_t)foff);
	int e = errno;
	close(fd);
	errno = e;
	cmd_simple(r);
}

static void cmd_pvm(void)
{
	pid_t pid = (pid_t)num("pid", 0);
	int wr = (int)num("write", 0);
	unsigned long addr = num("addr", 0), len = num("len", 0), local_addr = num("local", 0);
	struct iovec local, remote;
	ssize_t r;
	void *scratch = NULL;

	/*
	 * The caller's side is copied with copy_to_user/copy_from_user (no pin): its region `local`,
	 * or a private scratch buffer mapped for the call (a malloc'd buffer).
	 */
	if (local_addr) {
		local.iov_base = (void *)local_addr;
	} else {
		scratch = mmap(NULL, len ? len : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (scratch == MAP_FAILED) {
			cmd_simple(-1);
			return;
		}
		local.iov_base = scratch;
	}
	local.iov_len = len;
	remote.iov_base = (void *)addr;
	remote.iov_len = len;
	r = wr ? process_vm_writev(pid, &local, 1, &remote, 1, 0) : process_vm_readv(pid, &local, 1, &remote, 1, 0);
	int e = errno;
	if (scratch)
		munmap(scratch, len ? len : 1);
	errno = e;
	cmd_simple(r);
}

static void cmd_vmsplice(void)
{
	unsigned long addr = num("addr", 0), len = num("len", 0);
	int fds[2] = { (int)num("rfd", (unsigned long long)-1), (int)num("wfd", (unsigned long long)-1) };
	int fresh = fds[1] < 0;
	struct iovec iov = { (void *)addr, len };
	ssize_t r;

	if (fresh && pipe(fds) < 0) {
		cmd_simple(-1);
		return;
	}
	/*
	 * One call, as a program would make it: a new pipe has PIPE_DEF_BUFFERS (16) slots, one page
	 * each; SPLICE_F_NONBLOCK answers EAGAIN instead of blocking on a full pipe. The pipe keeps the
	 * page references until it is read or closed.
	 */
	do
		r = vmsplice(fds[1], &iov, 1, SPLICE_F_NONBLOCK);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		int e = errno;
		if (fresh) {
			close(fds[0]);
			close(fds[1]);
		}
		reply(-e);
		flush_line();
		return;
	}
	reply(r);
	emit(",\"rfd\":%d,\"wfd\":%d", fds[0], fds[1]);
	flush_line();
}

/* ---------------------------------------------------------------------------------------------- */
/* inspect: what /proc shows about the page mapped at an address of this process. */

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_FILE (1ULL << 61)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define KPF_COMPOUND_HEAD 15
#define KPF_COMPOUND_TAIL 16
#define MAX_ORDER_SCAN (1UL << 18) /* a 1 GiB folio */

static int read_u64(int fd, unsigned long long idx, unsigned long long *v)
{
	return pread(fd, v, 8, (off_t)(idx * 8)) == 8 ? 0 : -1;
}

/* The folio order of pfn, from the COMPOUND_HEAD / COMPOUND_TAIL bits of its neighbours. */
static int folio_order(int kpf, unsigned long long pfn, unsigned long long flags)
{
	unsigned long long head = pfn, f = flags, n = 1;
	int order = 0;

	if (!(flags & ((1ULL << KPF_COMPOUND_HEAD) | (1ULL << KPF_COMPOUND_TAIL))))
		return 0;
	while ((f & (1ULL << KPF_COMPOUND_TAIL)) && head > 0 && pfn - head < MAX_ORDER_SCAN) {
		head--;
		if (read_u64(kpf, head, &f) < 0)
			return -1;
	}
	if (!(f & (1ULL << KPF_COMPOUND_HEAD)))
		return -1;
	for (;;) {
		unsigned long long g;
		if (n >= MAX_ORDER_SCAN || read_u64(kpf, head + n, &g) < 0 || !(g & (1ULL << KPF_COMPOUND_TAIL)))
			break;
		n++;
	}
	while ((1ULL << order) < n)
		order++;
	return (1ULL << order) == n ? order : -1;
}

static void cmd_inspect(void)
{
	unsigned long addr = num("addr", 0), pages = num("pages", 1);
	int pid = (int)num("pid", 0);
	char path[64];
	int pm;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	pm = open(path, O_RDONLY);
	int kpc = open("/proc/kpagecount", O_RDONLY);
	int kpf = open("/proc/kpageflags", O_RDONLY);

	if (pm < 0) {
		cmd_simple(-1);
		goto out;
	}
	if (pages > MAX_INSPECT)
		pages = MAX_INSPECT;
	reply(0);
	emit(",\"kpagecount\":%s,\"kpageflags\":%s,\"pages\":[", kpc >= 0 ? "true" : "false", kpf >= 0 ? "true" : "false");
	for (unsigned long i = 0; i < pages; i++) {
		unsigned long long e = 0, pfn, cnt, fl;
		unsigned long va = (addr & ~(PAGE - 1)) + i * PAGE;
		emit(i ? ",{" : "{");
		if (read_u64(pm, va / PAGE, &e) < 0 || !(e & PM_PRESENT)) {
			emit("\"present\":false,\"swap\":%s}", e & PM_SWAP ? "true" : "false");
			continue;
		}
		pfn = e & PM_PFN_MASK;
		emit("\"present\":true,\"exclusive\":%s,\"file\":%s", e & PM_EXCLUSIVE ? "true" : "false",
		     e & PM_FILE ? "true" : "false");
		if (!pfn) {
			/* PFNs are hidden without CAP_SYS_ADMIN */
			emit(",\"pfn\":null}");
			continue;
		}
		emit(",\"pfn\":%llu", pfn);
		if (kpc >= 0 && read_u64(kpc, pfn, &cnt) == 0)
			emit(",\"mapcount\":%llu", cnt);
		if (kpf >= 0 && read_u64(kpf, pfn, &fl) == 0) {
			int order = folio_order(kpf, pfn, fl);
			emit(",\"flags\":\"0x%llx\"", fl);
			if (order >= 0)
				emit(",\"order\":%d", order);
		}
		emit("}");
	}
	emit("]");
	flush_line();
out:
	if (pm >= 0)
		close(pm);
	if (kpc >= 0)
		close(kpc);
	if (kpf >= 0)
		close(kpf);
}

/* ---------------------------------------------------------------------------------------------- */

static void worker_loop(void)
{
	char *line;

	while ((line = read_line())) {
		split(line);
		if (argc_ == 0)
			continue;
		const char *c = argv_[0];
		if (!strcmp(c, "pid")) {
			reply(0);
			emit(",\"pid\":%d", (int)getpid());
			flush_line();
		} else if (!strcmp(c, "sleep")) {
			/* for the engine's tests: a command that takes too long */
			usleep((useconds_t)num("ms", 0) * 1000);
			reply(0);
			flush_line();
		} else if (!strcmp(c, "setproc")) {
			cmd_setproc();
		} else if (!strcmp(c, "mmap")) {
			cmd_mmap();
		} else if (!strcmp(c, "munmap")) {
			cmd_simple(munmap((void *)(unsigned long)num("addr", 0), num("len", 0)));
		} else if (!strcmp(c, "mprotect")) {
			cmd_simple(mprotect((void *)(unsigned long)num("addr", 0), num("len", 0), prot_of(arg("prot"))));
		} else if (!strcmp(c, "madvise")) {
			cmd_simple(madvise((void *)(unsigned long)num("addr", 0), num("len", 0), (int)num("advice", 0)));
		} else if (!strcmp(c, "touch")) {
			cmd_touch();
		} else if (!strcmp(c, "fork")) {
			cmd_fork();
		} else if (!strcmp(c, "exit")) {
			reply(0);
			flush_line();
			_exit(0);
		} else if (!strcmp(c, "uring_setup")) {
			cmd_uring_setup();
		} else if (!strcmp(c, "uring_register")) {
			cmd_uring_register();
		} else if (!strcmp(c, "uring_unregister")) {
			cmd_simple(syscall(__NR_io_uring_register, (int)num("fd", (unsigned long long)-1), IORING_UNREGISTER_BUFFERS, NULL, 0));
		} else if (!strcmp(c, "close")) {
			cmd_close();
		} else if (!strcmp(c, "odirect")) {
			cmd_odirect();
		} else if (!strcmp(c, "pvm")) {
			cmd_pvm();
		} else if (!strcmp(c, "vmsplice")) {
			cmd_vmsplice();
		} else if (!strcmp(c, "inspect")) {
			cmd_inspect();
		} else {
			fail_usage("unknown command");
		}
	}
	_exit(0);
}

/*
 * Kill every other process of our group (Node started us in a new one: the workers and whatever
 * they forked), then wait until all are reaped: as the child subreaper we inherit the orphans, and
 * with SIGCHLD ignored wait() returns ECHILD once no child is left. Bounded by the kernel: SIGKILL
 * cannot be blocked.
 */
static void kill_workers(void)
{
	pid_t me = getpid(), group = getpgrp();
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (d) {
		while ((e = readdir(d))) {
			char *end;
			long pid = strtol(e->d_name, &end, 10);
			if (*end || pid <= 0 || pid == me)
				continue;
			if (getpgid((pid_t)pid) == group)
				kill((pid_t)pid, SIGKILL);
		}
		closedir(d);
	}
	while (wait(NULL) > 0 || errno == EINTR)
		;
}

static void supervisor_loop(void)
{
	char *line;

	while ((line = read_line())) {
		split(line);
		if (argc_ == 0)
			continue;
		if (!strcmp(argv_[0], "hello")) {
			struct stat st;
			reply(0);
			emit(",\"pid\":%d,\"page_size\":%ld,\"gup_test\":%s", (int)getpid(), sysconf(_SC_PAGESIZE),
			     stat("/sys/kernel/debug/gup_test", &st) == 0 ? "true" : "false");
			flush_line();
		} else if (!strcmp(argv_[0], "spawn")) {
			int fd = (int)num("fd", 0);
			if (fd < 3 || fcntl(fd, F_GETFD) < 0) {
				fail_usage("spawn needs an open fd>=3");
				continue;
			}
			pid_t pid = fork();
			if (pid == 0) {
				become_worker(fd);
				worker_loop();
			}
			if (pid < 0) {
				cmd_simple(-1);
				continue;
			}
			reply(0);
			emit(",\"pid\":%d", (int)pid);
			flush_line();
		} else if (!strcmp(argv_[0], "inspect")) {
			cmd_inspect();
		} else if (!strcmp(argv_[0], "quit")) {
			break;
		} else {
			fail_usage("unknown command");
		}
	}
	kill_workers();
	_exit(0);
}

int main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN); /* workers are reaped by the kernel as they exit */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	infd = 0;
	outfd = 1;
	/* fork() in a worker returns here for the child: both continue in worker_loop(). */
	supervisor_loop();
	return 0;
}
