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
 *   mmap kind=anon|shmem|memfd|file|hugetlb shared=0|1 size=N prot=rw|r|none align=N populate=0|1
 *        noreserve=0|1 huge=2M|1G path=P offset=N plain=0|1   -> "addr", "len" (plain=1: where the
 *                                          kernel places it, without guard pages or alignment)
 *   munmap addr= len=      mprotect addr= len= prot=rw|r|none     madvise addr= len= advice=NUM
 *   mremap addr= len= new_len= maymove=0|1 fixed=0|1 new_addr= dontunmap=0|1   -> "addr" (where it is now)
 *   mlock addr= len= onfault=0|1           mlock(2), or mlock2(2) with MLOCK_ONFAULT -> "locked_vm"
 *   munlock addr= len=                     -> "locked_vm" (pages: VmLck of /proc/self/status)
 *   touch addr= len= write=0|1 value=V     one access per page; SIGSEGV/SIGBUS -> -EFAULT. A write fills
 *                                          each page with the 32-bit V; a read -> "data": the first word of
 *                                          each page, as runs [[value,count],...] (also on a fault)
 *   fork fd=N                              -> "pid" of the child
 *   exit                                   answers, then _exit(0)
 *   uring_setup                            -> ret: the ring's descriptor
 *   uring_register fd=F iov=ADDR:LEN[,ADDR:LEN...]     IORING_REGISTER_BUFFERS
 *   uring_unregister fd=F                  IORING_UNREGISTER_BUFFERS
 *   uring_rw fd=F index=I addr=A len=L path=P foff=O read=0|1 direct=0|1
 *                                          IORING_OP_READ_FIXED / WRITE_FIXED -> ret: the CQE's res
 *   close fd=F[,G...]
 *   odirect path=P read=0|1 foff=N addr=A len=L        open(O_DIRECT) + pread/pwrite
 *   pvm pid=P write=0|1 addr=A len=L [local=B] [value=V]   process_vm_readv/writev of P's [A, A+L),
 *                                          to/from this process's [B, B+L) or a scratch buffer (holding V
 *                                          for writev); readv -> "data" of what arrived
 *   piperead rfd=R len=L                   read(2) without blocking -> "data" of the pages read
 *   msync addr= len=                       msync(MS_SYNC)
 *   vmsplice addr=A len=L [rfd=R wfd=W]    into pipe W (default: a new pipe, kept open) -> "rfd", "wfd"
 *   inspect [pid=P] addr=A pages=N         /proc/P/pagemap (default self), /proc/kpagecount,
 *                                          /proc/kpageflags -> "pages":[{present,pfn,mapcount,flags,order}]
 *   zeropage                               whether a read fault maps the shared zero page here (one page
 *                                          mapped, read, looked up in kpageflags) -> "zero_page"
 *   peek addr=A pages=N                    the first word of each present page (a plain load, nothing
 *                                          faulted, no reference taken) -> "data":[v or null,...]
 *                                          (also a supervisor command: it reads a worker's pagemap as root);
 *                                          with gupsim's module loaded, each page also has "gup": the
 *                                          struct page fields it reads (refcount, pincount, ...)
 *   gup fn=NAME addr=A nr=N flags=FOLL_A,FOLL_B handle=H [pid=P]
 *                                          the GUP entry point NAME (get_user_pages, pin_user_pages_fast,
 *                                          ..., *_remote on process P) through gupsim's module
 *                                          (vm/module/gupsim_gup.c); the pages go to handle H
 *                                          -> ret: the call's, "gup_flags", "first"; a request the module
 *                                          refuses has "error" (and "bad_flag": a name this kernel lacks)
 *   gup_test cmd=N addr=A size=S nr=N flags=F test_flags=T which=I,J,...
 *                                          an ioctl of mm/gup_test.c (1-6) through the module
 *                                          -> "size", "get_delta_usec", "put_delta_usec", "which"
 *
 * Supervisor commands for the VM engine (src/probe/vm/), also usable on a host:
 *   vmstat                                 stat_refresh, then every /proc/vmstat counter -> "counters"
 *   kmsg                                   kernel log records since the last kmsg (or since hello)
 *                                          -> "lines"
 *   readfile path=P                        -> "text"       writefile path=P value=V
 *   mkfile path=P size=N vstep=S [value=V] a file of N bytes, each block filled with V or with its block's
 *                                          value for step S (file_block_value()), fsync'ed, mode 0666
 *   pread path=P off=O len=L               buffered read -> "data";  pwrite path=P off=O len=L value=V
 *   fsync path=P [range=1]                 fsync(2), or sync_file_range(WAIT|WRITE|WAIT) (the flusher)
 *   readdisk path=P off=O len=L            the file's blocks on its block device (FIEMAP, O_DIRECT on the
 *                                          device: past the page cache, nothing flushed) -> "data"
 *   truncate path=P size=N                 filesize path=P -> ret: st_size
 *   alive pid=P                            -> ret 1 while P exists and is not a zombie, else 0
 *   release fn=NAME handle=H index=I count=C dirty=0|1   unpin_user_pages, unpin_user_pages_dirty_lock,
 *                                          unpin_user_page or put_page of a handle's entries, as asked
 *   pageinfo handle=H index=I | pfn=P      struct page fields of a held page or a frame
 *   dump_page handle=H index=I | pfn=P [reason=R]   dump_page() into the kernel log (R percent-encoded)
 *   dma handle=H index=I count=N value=V write=0|1  write V into N held pages / read page I's first word
 *                                          ("value")
 *   handle handle=H                        -> ret: the entries handle H has
 *   newhandle                              -> ret: a handle no one has used since the module loaded
 *
 * Serial mode (`helper --serial DEV`, in gupsim's VMs): the process multiplexes the supervisor and
 * the worker channels over one serial line, DEV. It starts a supervisor (and a new one whenever
 * the last one quits) on socketpairs standing for stdin/stdout and descriptors 3..3+K-1, and relays:
 *   host -> guest   "C LINE\n"           C = 0 for the supervisor, 1..K for descriptor 3+C-1
 *   guest -> host   "\x1eC LINE\n"        a reply on channel C
 *                   "\x1eR {json}\n"      a supervisor is ready (pid, kernel release)
 *                   "\x1eX STATUS\n"      the supervisor exited (a new one follows with R)
 * Guest lines that do not start with \x1e are not frames (nothing else should write there).
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
#include <malloc.h>
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
#include <poll.h>
#include <termios.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include "../../vm/module/gupsim_gup.h"

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
#ifndef __NR_mlock2
#define __NR_mlock2 325
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
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
/*
 * The helper's own memory and the per-CPU LRU batch. A new page (a fault, a COW copy) waits in this
 * CPU's lru_add batch (mm/swap.c) with a reference until the batch fills or something drains it
 * (munmap, exit, ...), and the model predicts that reference for the scenario's pages. The helper's
 * own pages must not move the batch behind the scenario's back, so:
 *   - its writable private memory (data, bss, heap, stack) is grown once at startup and never again
 *     (static buffers, no heap growth, no large malloc: a freed mmap'ed chunk would be munmapped);
 *   - after every fork (a new worker, the scenario's fork step, the supervisor from the serial mux)
 *     the child writes every page of that memory, so every COW copy either process will ever make
 *     happens at once, then drains the batch (settle_own_memory(), drain_lru_batches()); the parent
 *     waits for that before it answers (a settled pipe);
 *   - a scenario mapping is placed in a gap found in /proc/self/maps with MAP_FIXED_NOREPLACE, not
 *     carved out of a reservation (munmap and MAP_FIXED over a mapping drain the batch);
 *   - buffered file I/O goes through a MAP_SHARED scratch buffer faulted in at startup (no new page).
 * The model drains its batches at the same points (a new process, after fork: src/scenario).
 */
#define OWN_MAX 32
#define STACK_RESERVE (512 * 1024)
#define SHARED_SCRATCH (8UL << 20)

static struct {
	unsigned long start, end;
} own[OWN_MAX];
static int nown;
static char maps_text[64 * 1024];
static char *shared_scratch;

/* /proc/self/maps into maps_text (a static buffer: reading it allocates nothing). */
static int read_maps(void)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	while (len < sizeof(maps_text) - 1 && (n = read(fd, maps_text + len, sizeof(maps_text) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	maps_text[len] = 0;
	return 0;
}

/* Each mapping of maps_text: fn(start, end, perms, name). */
static void each_mapping(void (*fn)(unsigned long, unsigned long, const char *, const char *))
{
	char *line = maps_text;

	while (line && *line) {
		char *nl = strchr(line, '\n');
		unsigned long s, e;
		char perms[8] = "";
		int off = 0;

		if (nl)
			*nl = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &s, &e, perms, &off) >= 3)
			fn(s, e, perms, off > 0 ? line + off : "");
		if (nl)
			*nl = '\n';
		line = nl ? nl + 1 : NULL;
	}
}

static void record_own(unsigned long s, unsigned long e, const char *perms, const char *name)
{
	(void)name;
	if (strcmp(perms, "rw-p") || nown == OWN_MAX)
		return;
	own[nown].start = s;
	own[nown++].end = e;
}

static int is_own(unsigned long s, unsigned long e, const char *name)
{
	if (!strcmp(name, "[heap]") || !strcmp(name, "[stack]"))
		return 1;
	for (int i = 0; i < nown; i++)
		if (s < own[i].end && e > own[i].start)
			return 1;
	return 0;
}

static void touch_own(unsigned long s, unsigned long e, const char *perms, const char *name)
{
	if (strcmp(perms, "rw-p") || !is_own(s, e, name))
		return;
	for (unsigned long a = s; a < e; a += PAGE) {
		volatile char *p = (volatile char *)a;
		*p = *p;
	}
}

/* Grow the stack once, so that later calls never fault a new stack page in. */
static void __attribute__((noinline)) grow_stack(void)
{
	volatile char pad[STACK_RESERVE];

	for (size_t i = 0; i < sizeof(pad); i += PAGE)
		pad[i] = 0;
}

/*
 * Once, in the first process (before any fork): fix the heap and the stack at their final size,
 * fault in the shared scratch buffer, and record the writable private mappings that are the
 * helper's own (anything mapped later is the scenario's).
 */
static void own_memory_init(void)
{
	void *p;

	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	p = malloc(1 << 20);
	if (p) {
		memset(p, 0, 1 << 20);
		free(p);
	}
	grow_stack();
	shared_scratch = mmap(NULL, SHARED_SCRATCH, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared_scratch == MAP_FAILED)
		shared_scratch = NULL;
	else
		memset(shared_scratch, 0, SHARED_SCRATCH);
	if (read_maps() == 0)
		each_mapping(record_own);
}

/* Write every page of the helper's own memory: any COW copy of it happens now. */
static void settle_own_memory(void)
{
	if (read_maps() == 0)
		each_mapping(touch_own);
}

/* Drain this CPU's LRU batches: unmap_region() calls lru_add_drain() (munmap of a fresh page). */
static void drain_lru_batches(void)
{
	void *p = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		munmap(p, PAGE);
}

/* In a new child: settle, drain, and tell the parent (which waits in wait_settled()). */
static void settle_child(int fd)
{
	settle_own_memory();
	drain_lru_batches();
	if (fd >= 0) {
		char c = 1;
		while (write(fd, &c, 1) < 0 && errno == EINTR)
			;
		close(fd);
	}
}

/* In the parent: wait until the child has settled (or is gone). */
static void wait_settled(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	close(fd);
}

/*
 * A scratch buffer for buffered file I/O and pipe reads: the shared one when it is large enough
 * (no new page, no munmap), else a fresh private mapping (which moves the LRU batch: a note for a
 * scenario reading more than SHARED_SCRATCH at once).
 */
static char *scratch_get(unsigned long len)
{
	if (shared_scratch && len <= SHARED_SCRATCH)
		return shared_scratch;
	char *b = mmap(NULL, len ? len : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return b == MAP_FAILED ? NULL : b;
}

static void scratch_put(char *b, unsigned long len)
{
	if (b && b != shared_scratch)
		munmap(b, len ? len : 1);
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

/*
 * Page contents (what gupsim calls a page's value): a 32-bit word repeated over the page. A store
 * fills the page with it; a load reads the page's first word. Values go back as runs of equal values,
 * "data":[[value,count],...], one count per page.
 */
/*
 * The runs live in static arrays (the helper's own memory, settled: see settle_own_memory()), not on
 * the heap: growing a heap buffer during a step would fault in new pages, and freeing a large one
 * would munmap it, both of which move the per-CPU LRU batch the scenario's pages are in. More runs
 * than MAX_RUNS would not fit in one output line anyway: the last run takes the rest.
 */
#define MAX_RUNS 65536
static uint32_t runs_v[MAX_RUNS];
static uint32_t runs_n[MAX_RUNS];

struct runs {
	size_t len;
};

static void runs_add(struct runs *r, uint32_t v)
{
	if (r->len && (runs_v[r->len - 1] == v || r->len == MAX_RUNS)) {
		runs_n[r->len - 1]++;
		return;
	}
	runs_v[r->len] = v;
	runs_n[r->len++] = 1;
}

/* Emit ,"data":[[v,n],...] and empty the runs. */
static void runs_emit(struct runs *r)
{
	emit(",\"data\":[");
	for (size_t i = 0; i < r->len; i++)
		emit(i ? ",[%u,%u]" : "[%u,%u]", runs_v[i], runs_n[i]);
	emit("]");
	r->len = 0;
}

static void fill_page(void *page, uint32_t v)
{
	uint32_t *p = page;

	for (unsigned long i = 0; i < PAGE / sizeof(uint32_t); i++)
		p[i] = v;
}

/* The first word of each page of [buf, buf + len): what a reader of the buffer got. */
static void runs_of_buffer(struct runs *r, const char *buf, unsigned long len)
{
	for (unsigned long off = 0; off < len; off += PAGE)
		runs_add(r, *(const volatile uint32_t *)(buf + off));
}

static void cmd_touch(void)
{
	unsigned long addr = num("addr", 0), len = num("len", 0);
	volatile int wr = (int)num("write", 0);
	volatile uint32_t value = (uint32_t)num("value", 0);
	volatile unsigned long a = addr;
	volatile unsigned long end = addr + len;
	static struct runs seen;
	int sig;

	memset(&seen, 0, sizeof(seen));
	sig = sigsetjmp(touch_jb, 1);
	if (sig) {
		touching = 0;
		reply(-EFAULT);
		reply_str("signal", sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
		emit(",\"at\":%lu", (unsigned long)a);
		if (!wr)
			runs_emit(&seen);
		flush_line();
		return;
	}
	touching = 1;
	while (a < end) {
		unsigned long page = a & ~(PAGE - 1);
		/* page-granular contents: a store covers the whole page, a load reads its first word */
		if (wr)
			fill_page((void *)page, value);
		else
			runs_add(&seen, *(volatile uint32_t *)page);
		a = page + PAGE;
	}
	touching = 0;
	reply(0);
	if (!wr)
		runs_emit(&seen);
	flush_line();
}

/*
 * peek addr=A pages=N: the first word of each page of this process that is present (its own
 * pagemap says so), read with a plain load -> "data":[v or null, ...]. Nothing is faulted in and no
 * reference is taken (reading /proc/<pid>/mem would: its FOLL_GET walk marks the page accessed,
 * and a per-CPU LRU batch then holds a reference that stops a later write fault from reusing it).
 * A present page the process may not read (PROT_NONE) is null.
 */
static void cmd_peek(void)
{
	unsigned long addr = num("addr", 0) & ~(PAGE - 1), pages = num("pages", 1);
	static volatile unsigned long i;
	int pm = open("/proc/self/pagemap", O_RDONLY);

	if (pm < 0) {
		reply(-errno);
		flush_line();
		return;
	}
	if (pages > MAX_INSPECT)
		pages = MAX_INSPECT;
	reply(0);
	emit(",\"data\":[");
	for (i = 0; i < pages; i++) {
		unsigned long long e = 0;
		unsigned long va = addr + i * PAGE;
		uint32_t v;

		emit(i ? "," : "");
		if (pread(pm, &e, 8, (off_t)(va / PAGE * 8)) != 8 || !(e & (1ULL << 63))) {
			emit("null");
			continue;
		}
		if (sigsetjmp(touch_jb, 1)) {
			touching = 0;
			emit("null");
			continue;
		}
		touching = 1;
		v = *(volatile uint32_t *)va;
		touching = 0;
		emit("%u", v);
	}
	emit("]");
	close(pm);
	flush_line();
}

/* ---------------------------------------------------------------------------------------------- */
/* Mappings. */

static int prot_of(const char *p)
{
	if (p && strcmp(p, "none") == 0)
		return PROT_NONE;
	return p && strcmp(p, "r") == 0 ? PROT_READ : PROT_READ | PROT_WRITE;
}

/*
 * The highest address A, a multiple of align, with [A - PAGE, A + len + PAGE) free and below the
 * stack (top-down, as the kernel's get_unmapped_area()), or 0.
 */
static unsigned long find_gap(unsigned long len, unsigned long align)
{
	unsigned long prev_end = 1UL << 20, best = 0;
	char *line = maps_text;

	if (read_maps() < 0)
		return 0;
	while (line && *line) {
		char *nl = strchr(line, '\n');
		unsigned long s, e;

		if (nl)
			*nl = 0;
		int stack = strstr(line, "[stack]") != NULL;
		if (nl)
			*nl = '\n';
		if (stack)
			break;
		if (sscanf(line, "%lx-%lx", &s, &e) == 2) {
			if (s > prev_end && s - prev_end >= len + 2 * PAGE) {
				unsigned long a = (s - PAGE - len) & ~(align - 1);
				if (a >= prev_end + PAGE && a > best)
					best = a;
			}
			if (e > prev_end)
				prev_end = e;
		}
		line = nl ? nl + 1 : NULL;
	}
	return best;
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
	 * Place the mapping at the highest aligned address of a gap (/proc/self/maps) with room for a
	 * PROT_NONE guard page on each side, and map the guards. The guards keep other mappings from
	 * being adjacent: an access past the region's end faults, as the model has it, instead of
	 * landing in whatever was mapped next (the helper's own memory). MAP_FIXED_NOREPLACE, never
	 * MAP_FIXED over a reservation and munmap of its rest: those would drain the LRU batches.
	 */
	if (num("plain", 0)) {
		/* Where the kernel puts it (get_unmapped_area), as a program's own mmap() would be. */
		p = mmap(NULL, len, prot, flags, fd, (off_t)offset);
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
		return;
	}
	char *at = (char *)find_gap(len, align);
	if (!at) {
		if (fd >= 0)
			close(fd);
		reply(-ENOMEM);
		reply_str("error", "no gap in the address space for the mapping and its guard pages");
		flush_line();
		return;
	}
	p = mmap(at, len, prot, flags | MAP_FIXED_NOREPLACE, fd, (off_t)offset);
	int e = errno;
	if (p != MAP_FAILED && p != at) {
		/* a kernel without MAP_FIXED_NOREPLACE took it as a hint */
		munmap(p, len);
		p = MAP_FAILED;
		e = EEXIST;
	}
	if (p != MAP_FAILED) {
		mmap(at - PAGE, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		mmap(at + len, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	}
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

/* The file a command names by path=, opened with flags. On failure the command's answer is sent (a
 * usage error without path=, -errno when open() fails) and -1 returned. */
static int open_path_arg(const char *cmd, int flags)
{
	const char *path = arg("path");
	char msg[64];
	int fd;

	if (!path) {
		snprintf(msg, sizeof(msg), "%s needs path", cmd);
		fail_usage(msg);
		return -1;
	}
	fd = open(path, flags);
	if (fd < 0)
		cmd_simple(-1);
	return fd;
}

/* Close fd and answer r, keeping the errno of the call whose result r is. */
static void close_and_answer(int fd, long r)
{
	int e = errno;

	close(fd);
	errno = e;
	cmd_simple(r);
}

/* This process's mm->locked_vm in pages (VmLck of /proc/self/status, in kB), -1 if unreadable. */
static long locked_vm_pages(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb / (long)(PAGE / 1024);
}

/* mlock(2) / mlock2(2) with MLOCK_ONFAULT / munlock(2), answering with locked_vm after the call. */
static void cmd_mlock(int lock)
{
	void *addr = (void *)(unsigned long)num("addr", 0);
	size_t len = num("len", 0);
	long r;

	if (!lock)
		r = munlock(addr, len);
	else if (num("onfault", 0))
		r = syscall(__NR_mlock2, addr, len, MLOCK_ONFAULT);
	else
		r = mlock(addr, len);
	reply(r < 0 ? -errno : 0);
	emit(",\"locked_vm\":%ld", locked_vm_pages());
	flush_line();
}

/* mremap(2): MREMAP_MAYMOVE, MREMAP_FIXED (to new_addr) and MREMAP_DONTUNMAP as asked. */
static void cmd_mremap(void)
{
	int flags = (num("maymove", 0) ? MREMAP_MAYMOVE : 0) | (num("fixed", 0) ? MREMAP_FIXED : 0) |
		    (num("dontunmap", 0) ? MREMAP_DONTUNMAP : 0);
	void *p = (void *)syscall(__NR_mremap, (unsigned long)num("addr", 0), (unsigned long)num("len", 0),
				  (unsigned long)num("new_len", 0), flags, (unsigned long)num("new_addr", 0));

	if (p == MAP_FAILED) {
		reply(-errno);
		flush_line();
		return;
	}
	reply(0);
	emit(",\"addr\":%lu", (unsigned long)p);
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
	int settled[2];
	if (pipe2(settled, O_CLOEXEC) < 0) {
		cmd_simple(-1);
		return;
	}
	pid = fork();
	if (pid < 0) {
		close(settled[0]);
		close(settled[1]);
		cmd_simple(-1);
		return;
	}
	if (pid == 0) {
		close(infd);
		close(settled[0]);
		become_worker(fd);
		settle_child(settled[1]);
		return; /* the child answers nothing now: it waits for its first command */
	}
	close(settled[1]);
	wait_settled(settled[0]);
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

/* struct io_uring_params and the ring layout (include/uapi/linux/io_uring.h, stable ABI). */
struct uring_sqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
	uint64_t user_addr;
};
struct uring_cqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
	uint64_t user_addr;
};
struct uring_params {
	uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3];
	struct uring_sqring_offsets sq_off;
	struct uring_cqring_offsets cq_off;
};
struct uring_sqe {
	uint8_t opcode, flags;
	uint16_t ioprio;
	int32_t fd;
	uint64_t off, addr;
	uint32_t len, rw_flags;
	uint64_t user_data;
	uint16_t buf_index, personality;
	int32_t splice_fd_in;
	uint64_t pad[2];
};
struct uring_cqe {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};
#define IORING_OP_READ_FIXED 4
#define IORING_OP_WRITE_FIXED 5
#define IORING_OFF_SQ_RING 0ULL
#define IORING_OFF_CQ_RING 0x8000000ULL
#define IORING_OFF_SQES 0x10000000ULL
#define IORING_ENTER_GETEVENTS 1
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#define MAX_RINGS 16

/* The rings this process set up, with their parameters (for fixed I/O: the ring's layout). */
static struct {
	int fd;
	struct uring_params p;
} rings[MAX_RINGS];
static int nrings;

static void cmd_uring_setup(void)
{
	/* struct io_uring_params is 120 bytes in every release; a larger zeroed buffer is fine. */
	union {
		struct uring_params p;
		unsigned char bytes[256];
	} params;
	long fd;

	memset(&params, 0, sizeof(params));
	fd = syscall(__NR_io_uring_setup, 4, &params);
	if (fd >= 0 && nrings < MAX_RINGS) {
		rings[nrings].fd = (int)fd;
		rings[nrings++].p = params.p;
	}
	cmd_simple(fd);
}

/*
 * IORING_OP_READ_FIXED / WRITE_FIXED of the registered buffer buf_index=I at addr=A (inside it), len=L,
 * on file path=P at foff=O (O_DIRECT when direct=1): one SQE, wait for its CQE -> ret: cqe->res.
 * The rings are mapped for the call and unmapped after it (a mapping would keep the ring alive
 * after close(2), unlike in the model).
 */
static void cmd_uring_rw(void)
{
	int rfd = (int)num("fd", (unsigned long long)-1), rd = (int)num("read", 1), direct = (int)num("direct", 0);
	const char *path = arg("path");
	struct uring_params *p = NULL;
	size_t sq_len, cq_len, sqe_len;
	char *sq = MAP_FAILED, *cq = MAP_FAILED;
	struct uring_sqe *sqes = MAP_FAILED;
	long ret;
	int fd = -1;

	for (int i = 0; i < nrings; i++)
		if (rings[i].fd == rfd)
			p = &rings[i].p;
	if (!p || !path) {
		fail_usage("uring_rw needs fd (a ring of this process) and path");
		return;
	}
	sq_len = p->sq_off.array + p->sq_entries * sizeof(uint32_t);
	cq_len = p->cq_off.cqes + p->cq_entries * sizeof(struct uring_cqe);
	sqe_len = p->sq_entries * sizeof(struct uring_sqe);
	fd = open(path, (rd ? O_RDONLY : O_WRONLY) | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		cmd_simple(-1);
		return;
	}
	sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, IORING_OFF_SQ_RING);
	cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, IORING_OFF_CQ_RING);
	sqes = mmap(NULL, sqe_len, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	{
		volatile uint32_t *tail = (uint32_t *)(sq + p->sq_off.tail);
		uint32_t mask = *(uint32_t *)(sq + p->sq_off.ring_mask), t = *tail;
		uint32_t *array = (uint32_t *)(sq + p->sq_off.array);
		struct uring_sqe *e = &sqes[t & mask];
		volatile uint32_t *chead = (uint32_t *)(cq + p->cq_off.head);
		volatile uint32_t *ctail = (uint32_t *)(cq + p->cq_off.tail);
		uint32_t cmask = *(uint32_t *)(cq + p->cq_off.ring_mask);
		struct uring_cqe *cqes = (struct uring_cqe *)(cq + p->cq_off.cqes);

		memset(e, 0, sizeof(*e));
		e->opcode = rd ? IORING_OP_READ_FIXED : IORING_OP_WRITE_FIXED;
		e->fd = fd;
		e->off = num("foff", 0);
		e->addr = num("addr", 0);
		e->len = (uint32_t)num("len", 0);
		e->buf_index = (uint16_t)num("index", 0);
		e->user_data = 0x6775;
		array[t & mask] = t & mask;
		__atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
		do
			ret = syscall(__NR_io_uring_enter, rfd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
		while (ret < 0 && errno == EINTR);
		if (ret < 0) {
			ret = -errno;
			goto out;
		}
		if (__atomic_load_n(chead, __ATOMIC_ACQUIRE) == __atomic_load_n(ctail, __ATOMIC_ACQUIRE)) {
			ret = -EIO; /* GETEVENTS with min_complete 1 returned without a completion */
			goto out;
		}
		ret = cqes[*chead & cmask].res;
		__atomic_store_n(chead, *chead + 1, __ATOMIC_RELEASE);
	}
out:
	if (sq != MAP_FAILED)
		munmap(sq, sq_len);
	if (cq != MAP_FAILED)
		munmap(cq, cq_len);
	if (sqes != MAP_FAILED)
		munmap(sqes, sqe_len);
	close(fd);
	reply(ret);
	flush_line();
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
	int rd = (int)num("read", 1);
	unsigned long addr = num("addr", 0), len = num("len", 0), foff = num("foff", 0);
	int fd;
	ssize_t r;

	fd = open_path_arg("odirect", O_RDWR | O_DIRECT);
	if (fd < 0)
		return;
	r = rd ? pread(fd, (void *)addr, len, (off_t)foff) : pwrite(fd, (void *)addr, len, (off_t)foff);
	close_and_answer(fd, r);
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
	/* writev from a scratch buffer: it holds value=V, page by page (the model's scratch too) */
	if (scratch && wr)
		for (unsigned long off = 0; off < len; off += PAGE)
			fill_page((char *)scratch + off, (uint32_t)num("value", 0));
	r = wr ? process_vm_writev(pid, &local, 1, &remote, 1, 0) : process_vm_readv(pid, &local, 1, &remote, 1, 0);
	int e = errno;
	if (r < 0) {
		if (scratch)
			munmap(scratch, len ? len : 1);
		errno = e;
		cmd_simple(-1);
		return;
	}
	reply(r);
	if (!wr && r > 0) {
		/* readv: what arrived in the buffer */
		struct runs got = { 0 };
		runs_of_buffer(&got, local.iov_base, (unsigned long)r);
		runs_emit(&got);
	}
	if (scratch)
		munmap(scratch, len ? len : 1);
	flush_line();
}

/*
 * piperead rfd=R len=L: read(2) up to L bytes from the pipe without blocking (O_NONBLOCK: an empty
 * pipe is EAGAIN), into a buffer of this process -> ret: bytes, "data": the first word of each page read.
 */
static void cmd_piperead(void)
{
	int rfd = (int)num("rfd", (unsigned long long)-1);
	unsigned long len = num("len", 0), done = 0;
	char *buf;
	int fl = fcntl(rfd, F_GETFL);

	if (fl < 0 || fcntl(rfd, F_SETFL, fl | O_NONBLOCK) < 0) {
		cmd_simple(-1);
		return;
	}
	buf = scratch_get(len);
	if (!buf) {
		cmd_simple(-1);
		return;
	}
	while (done < len) {
		ssize_t r = read(rfd, buf + done, len - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (unsigned long)r;
	}
	int e = errno;
	fcntl(rfd, F_SETFL, fl);
	if (!done && len) {
		scratch_put(buf, len);
		reply(-e);
		flush_line();
		return;
	}
	reply((long long)done);
	{
		struct runs got = { 0 };
		runs_of_buffer(&got, buf, done);
		runs_emit(&got);
	}
	scratch_put(buf, len);
	flush_line();
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

static int gup_dev(void);
static void emit_page_info(const struct gupsim_page_info *pi);

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
		if (gup_dev() >= 0) {
			/* gupsim's module: the struct page fields /proc does not show */
			struct gupsim_page_info pi;
			memset(&pi, 0, sizeof(pi));
			pi.by = GUPSIM_BY_PFN;
			pi.pfn = pfn;
			if (ioctl(gup_dev(), GUPSIM_IOC_PAGE_INFO, &pi) == 0) {
				struct gupsim_mapping mp;
				memset(&mp, 0, sizeof(mp));
				mp.pid = pid;
				mp.addr = va;
				emit(",\"gup\":{");
				emit_page_info(&pi);
				if (ioctl(gup_dev(), GUPSIM_IOC_MAPPING, &mp) == 0 && mp.present && mp.pfn == pfn)
					emit(",\"level\":%u,\"writable\":%s", mp.level, mp.writable ? "true" : "false");
				emit("}");
			}
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

#define KPF_ZERO_PAGE 24

/* Whether a read fault of private anonymous memory maps the shared zero page here (some kernels forbid
 * it: mm_forbids_zeropage()): one page is mapped, read, looked up in pagemap and kpageflags, unmapped.
 * -> "zero_page": true|false; -EPERM when the PFN is hidden (no CAP_SYS_ADMIN) */
static void cmd_zeropage(void)
{
	volatile char *p;
	int pm, kpf;
	unsigned long long e = 0, fl = 0;
	long r = -1;

	errno = 0;
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pm = open("/proc/self/pagemap", O_RDONLY);
	kpf = open("/proc/kpageflags", O_RDONLY);
	if (p != MAP_FAILED && pm >= 0 && kpf >= 0) {
		(void)p[0];
		if (read_u64(pm, (unsigned long)p / PAGE, &e) == 0 && (e & PM_PRESENT)) {
			if (!(e & PM_PFN_MASK))
				errno = EPERM;
			else if (read_u64(kpf, e & PM_PFN_MASK, &fl) == 0)
				r = 0;
		}
	}
	reply(r < 0 ? -(errno ? errno : EIO) : 0);
	if (r == 0)
		emit(",\"zero_page\":%s", fl & (1ULL << KPF_ZERO_PAGE) ? "true" : "false");
	flush_line();
	if (p != MAP_FAILED)
		munmap((void *)p, PAGE);
	if (pm >= 0)
		close(pm);
	if (kpf >= 0)
		close(kpf);
}

/* ---------------------------------------------------------------------------------------------- */
/* gupsim's GUP module (vm/module/gupsim_gup.c), present in the VMs of `gupsim probe --kernel`. */

static int gupfd = -2; /* -2: not opened yet */

static int gup_dev(void)
{
	if (gupfd == -2)
		gupfd = open(GUPSIM_GUP_DEVICE, O_RDWR | O_CLOEXEC);
	return gupfd;
}

static const char *const gup_fns[] = {
	[GUPSIM_GET_USER_PAGES] = "get_user_pages",
	[GUPSIM_GET_USER_PAGES_FAST] = "get_user_pages_fast",
	[GUPSIM_GET_USER_PAGES_FAST_ONLY] = "get_user_pages_fast_only",
	[GUPSIM_GET_USER_PAGES_UNLOCKED] = "get_user_pages_unlocked",
	[GUPSIM_GET_USER_PAGES_REMOTE] = "get_user_pages_remote",
	[GUPSIM_PIN_USER_PAGES] = "pin_user_pages",
	[GUPSIM_PIN_USER_PAGES_FAST] = "pin_user_pages_fast",
	[GUPSIM_PIN_USER_PAGES_UNLOCKED] = "pin_user_pages_unlocked",
	[GUPSIM_PIN_USER_PAGES_REMOTE] = "pin_user_pages_remote",
};

static const char *const release_fns[] = {
	[GUPSIM_UNPIN_USER_PAGES] = "unpin_user_pages",
	[GUPSIM_UNPIN_USER_PAGES_DIRTY_LOCK] = "unpin_user_pages_dirty_lock",
	[GUPSIM_UNPIN_USER_PAGE] = "unpin_user_page",
	[GUPSIM_PUT_PAGE] = "put_page",
};

static unsigned lookup_name(const char *name, const char *const *names, unsigned n)
{
	for (unsigned i = 1; name && i < n; i++)
		if (names[i] && !strcmp(names[i], name))
			return i;
	return 0;
}

/* The module's device, or a reply saying why it is not there (returns -1). */
static int need_gup_dev(void)
{
	int fd = gup_dev();

	if (fd < 0) {
		int e = errno;
		reply(-e);
		reply_str("error", "no " GUPSIM_GUP_DEVICE " (gupsim's GUP module is not loaded)");
		flush_line();
	}
	return fd;
}

/* An ioctl the module refused: -errno, and what it means. */
static void ioctl_failed(const char *what)
{
	int e = errno;

	reply(-e);
	reply_str("error", what);
	flush_line();
}

static void cmd_gup(void)
{
	struct gupsim_gup req;
	const char *flags = arg("flags");
	int fd;

	memset(&req, 0, sizeof(req));
	req.fn = lookup_name(arg("fn"), gup_fns, sizeof(gup_fns) / sizeof(gup_fns[0]));
	if (!req.fn) {
		fail_usage("gup needs fn=<a GUP entry point>");
		return;
	}
	if ((fd = need_gup_dev()) < 0)
		return;
	req.handle = (__u32)num("handle", 0);
	req.addr = num("addr", 0);
	req.nr_pages = num("nr", 0);
	req.pid = (__s32)num("pid", 0);
	if (flags)
		snprintf(req.flags, sizeof(req.flags), "%s", flags);
	if (ioctl(fd, GUPSIM_IOC_GUP, &req) < 0) {
		int e = errno;
		reply(-e);
		if (e == ENOENT) {
			reply_str("error", "a flag this kernel's headers do not define");
			reply_str("bad_flag", req.flags);
		} else {
			reply_str("error", "the module refused the request");
		}
		flush_line();
		return;
	}
	reply(req.ret);
	emit(",\"gup_flags\":%u,\"first\":%llu", req.gup_flags, (unsigned long long)req.first);
	flush_line();
}

static void cmd_release(void)
{
	struct gupsim_release req;
	int fd;

	memset(&req, 0, sizeof(req));
	req.fn = lookup_name(arg("fn"), release_fns, sizeof(release_fns) / sizeof(release_fns[0]));
	if (!req.fn) {
		fail_usage("release needs fn=unpin_user_pages|unpin_user_pages_dirty_lock|unpin_user_page|put_page");
		return;
	}
	if ((fd = need_gup_dev()) < 0)
		return;
	req.handle = (__u32)num("handle", 0);
	req.index = num("index", 0);
	req.count = arg("count") ? strtoll(arg("count"), NULL, 0) : 0;
	req.dirty = (__u32)num("dirty", 0);
	if (ioctl(fd, GUPSIM_IOC_RELEASE, &req) < 0) {
		ioctl_failed("the module refused the release (no such entries)");
		return;
	}
	reply(0);
	flush_line();
}

/* A page by handle=H index=I or by pfn=P, for pageinfo and dump_page. */
static void page_ref(__u32 *by, __u32 *handle, __u64 *index, __u64 *pfn)
{
	if (arg("pfn")) {
		*by = GUPSIM_BY_PFN;
		*pfn = num("pfn", 0);
	} else {
		*by = GUPSIM_BY_HANDLE;
		*handle = (__u32)num("handle", 0);
		*index = num("index", 0);
	}
}

static void emit_page_info(const struct gupsim_page_info *pi)
{
	emit("\"pfn\":%llu,\"head_pfn\":%llu,\"flags\":\"0x%llx\",\"refcount\":%d,\"folio_refcount\":%d,"
	     "\"mapcount\":%d,\"page_mapcount\":%d,\"entire_mapcount\":%d,\"pincount\":%d,\"order\":%u,"
	     "\"maybe_dma_pinned\":%s,\"anon\":%s,\"anon_exclusive\":%s,\"head_anon_exclusive\":%s,\"zero\":%s",
	     (unsigned long long)pi->pfn, (unsigned long long)pi->head_pfn, (unsigned long long)pi->flags,
	     pi->refcount, pi->folio_refcount, pi->mapcount, pi->page_mapcount, pi->entire_mapcount, pi->pincount,
	     pi->order, pi->maybe_dma_pinned ? "true" : "false", pi->anon ? "true" : "false",
	     pi->anon_exclusive ? "true" : "false", pi->head_anon_exclusive ? "true" : "false", pi->zero ? "true" : "false");
}

static void cmd_pageinfo(void)
{
	struct gupsim_page_info pi;
	int fd;

	memset(&pi, 0, sizeof(pi));
	if ((fd = need_gup_dev()) < 0)
		return;
	page_ref(&pi.by, &pi.handle, &pi.index, &pi.pfn);
	if (ioctl(fd, GUPSIM_IOC_PAGE_INFO, &pi) < 0) {
		ioctl_failed("no such page");
		return;
	}
	reply(0);
	emit(",\"page\":{");
	emit_page_info(&pi);
	emit("}");
	flush_line();
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decoding (arguments cannot hold spaces). */
static void pct_decode(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	while (*src && n + 1 < size) {
		if (src[0] == '%' && hexval(src[1]) >= 0 && hexval(src[2]) >= 0) {
			dst[n++] = (char)(hexval(src[1]) * 16 + hexval(src[2]));
			src += 3;
		} else {
			dst[n++] = *src++;
		}
	}
	dst[n] = 0;
}

static void cmd_dump_page(void)
{
	struct gupsim_dump_page req;
	int fd;

	memset(&req, 0, sizeof(req));
	if ((fd = need_gup_dev()) < 0)
		return;
	page_ref(&req.by, &req.handle, &req.index, &req.pfn);
	pct_decode(req.reason, sizeof(req.reason), arg("reason") ? arg("reason") : "gupsim");
	if (ioctl(fd, GUPSIM_IOC_DUMP_PAGE, &req) < 0) {
		ioctl_failed("no such page");
		return;
	}
	reply(0);
	flush_line();
}

static void cmd_dma(void)
{
	struct gupsim_dma req;
	int fd;

	memset(&req, 0, sizeof(req));
	if ((fd = need_gup_dev()) < 0)
		return;
	req.handle = (__u32)num("handle", 0);
	req.index = num("index", 0);
	req.count = num("count", 1);
	req.value = (__u32)num("value", 0);
	req.write = (__u32)num("write", 0);
	if (ioctl(fd, GUPSIM_IOC_DMA, &req) < 0) {
		ioctl_failed("no such entries");
		return;
	}
	reply(0);
	emit(",\"value\":%u", req.value);
	flush_line();
}

static void cmd_newhandle(void)
{
	struct gupsim_handle_info req;
	int fd;

	memset(&req, 0, sizeof(req));
	if ((fd = need_gup_dev()) < 0)
		return;
	if (ioctl(fd, GUPSIM_IOC_NEW_HANDLE, &req) < 0) {
		ioctl_failed("no handle left (the module's handles are used up)");
		return;
	}
	reply((long long)req.handle);
	flush_line();
}

static void cmd_handle(void)
{
	struct gupsim_handle_info req;
	int fd;

	memset(&req, 0, sizeof(req));
	if ((fd = need_gup_dev()) < 0)
		return;
	req.handle = (__u32)num("handle", 0);
	if (ioctl(fd, GUPSIM_IOC_HANDLE, &req) < 0) {
		ioctl_failed("no such handle");
		return;
	}
	reply((long long)req.nr);
	flush_line();
}

/* mm/gup_test.c's ioctls 1-6 on this process's memory. */
static void cmd_gup_test(void)
{
	static const unsigned long cmds[] = { 0, GUP_FAST_BENCHMARK, PIN_FAST_BENCHMARK, PIN_LONGTERM_BENCHMARK,
					      GUP_BASIC_TEST, PIN_BASIC_TEST, DUMP_USER_PAGES_TEST };
	struct gup_test g;
	unsigned long c = num("cmd", 0);
	const char *which = arg("which");
	int fd;

	if (c < 1 || c > 6) {
		fail_usage("gup_test needs cmd=1..6");
		return;
	}
	if ((fd = need_gup_dev()) < 0)
		return;
	memset(&g, 0, sizeof(g));
	g.addr = num("addr", 0);
	g.size = num("size", 0);
	g.nr_pages_per_call = (__u32)num("nr", 1);
	g.gup_flags = (__u32)num("flags", 0);
	g.test_flags = (__u32)num("test_flags", 0);
	for (int i = 0; which && *which && i < GUP_TEST_MAX_PAGES_TO_DUMP; i++) {
		char *end;
		g.which_pages[i] = (__u32)strtoul(which, &end, 0);
		which = *end == ',' ? end + 1 : end;
	}
	if (ioctl(fd, cmds[c], &g) < 0) {
		cmd_simple(-1);
		return;
	}
	reply(0);
	emit(",\"size\":%llu,\"get_delta_usec\":%llu,\"put_delta_usec\":%llu,\"which\":[",
	     (unsigned long long)g.size, (unsigned long long)g.get_delta_usec, (unsigned long long)g.put_delta_usec);
	for (int i = 0; i < GUP_TEST_MAX_PAGES_TO_DUMP; i++)
		emit(i ? ",%u" : "%u", g.which_pages[i]);
	emit("]");
	flush_line();
}

/* ---------------------------------------------------------------------------------------------- */
/* Supervisor commands for the VM engine: the guest's files, counters and kernel log. */

static void cmd_vmstat(void)
{
	char buf[64 * 1024];
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	ssize_t n;
	size_t len = 0;
	int first = 1;

	if (fd >= 0) {
		/* EINVAL when a counter is transiently negative: the values are read anyway */
		if (write(fd, "1\n", 2) < 0) {
		}
		close(fd);
	}
	fd = open("/proc/vmstat", O_RDONLY);
	if (fd < 0) {
		cmd_simple(-1);
		return;
	}
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	reply(0);
	emit(",\"counters\":{");
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = 0;
		emit(first ? "\"%s\":%s" : ",\"%s\":%s", line, sp + 1);
		first = 0;
	}
	emit("}");
	flush_line();
}

static int kmsgfd = -2;

/* Open /dev/kmsg positioned at its end: later kmsg commands return what the kernel logs from now. */
static void kmsg_start(void)
{
	if (kmsgfd == -2) {
		kmsgfd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (kmsgfd >= 0)
			lseek(kmsgfd, 0, SEEK_END);
	}
}

static void cmd_kmsg(void)
{
	char rec[8192];
	int first = 1;

	kmsg_start();
	if (kmsgfd < 0) {
		cmd_simple(-1);
		return;
	}
	reply(0);
	emit(",\"lines\":[");
	for (;;) {
		ssize_t n = read(kmsgfd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue; /* overwritten records were skipped */
		if (n <= 0)
			break;
		rec[n] = 0;
		/* "prio,seq,usec,flags;text\n" and continuation lines " KEY=value" */
		char *text = strchr(rec, ';');
		char *nl;
		if (!text)
			continue;
		text++;
		if ((nl = strchr(text, '\n')))
			*nl = 0;
		if (outlen > sizeof(out) - sizeof(rec) - 64)
			continue; /* the reply is full: drop the rest */
		emit(first ? "" : ",");
		first = 0;
		{
			/* reply_str() without its key */
			emit("\"");
			for (const char *p = text; *p; p++) {
				if (*p == '"' || *p == '\\')
					emit("\\%c", *p);
				else if ((unsigned char)*p < 0x20)
					emit("\\u%04x", *p);
				else
					emit("%c", *p);
			}
			emit("\"");
		}
	}
	emit("]");
	flush_line();
}

static void cmd_readfile(void)
{
	static char buf[512 * 1024];
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open_path_arg("readfile", O_RDONLY);
	if (fd < 0)
		return;
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	reply(0);
	reply_str("text", buf);
	flush_line();
}

static void cmd_writefile(void)
{
	const char *path = arg("path"), *value = arg("value");
	int fd;

	if (!path || !value) {
		fail_usage("writefile needs path and value");
		return;
	}
	fd = open(path, O_WRONLY);
	if (fd < 0) {
		cmd_simple(-1);
		return;
	}
	ssize_t w = write(fd, value, strlen(value));
	close_and_answer(fd, w < 0 ? -1 : 0);
}

/*
 * What block b of a file made at scenario step S holds (src/scenario/data.ts fileBlockValue()):
 * 0x80000000 | (S & 0x7ff) << 20 | (b & 0xfffff).
 */
static uint32_t file_block_value(unsigned long long step, unsigned long long block)
{
	return 0x80000000u | (uint32_t)((step & 0x7ff) << 20) | (uint32_t)(block & 0xfffff);
}

static void cmd_mkfile(void)
{
	const char *path = arg("path");
	unsigned long long size = num("size", 0), done = 0, step = num("vstep", 0);
	int fixed = arg("value") != NULL;
	uint32_t value = (uint32_t)num("value", 0);
	static char chunk[1 << 20];
	int fd;

	if (!path) {
		fail_usage("mkfile needs path");
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
	if (fd < 0) {
		cmd_simple(-1);
		return;
	}
	fchmod(fd, 0666);
	while (done < size) {
		size_t n = size - done < sizeof(chunk) ? (size_t)(size - done) : sizeof(chunk);
		/* every block holds its value: value=V, or the value of its block (vstep=S) */
		for (size_t off = 0; off < n; off += PAGE)
			fill_page(chunk + off, fixed ? value : file_block_value(step, (done + off) / PAGE));
		ssize_t w = pwrite(fd, chunk, n, (off_t)done);
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			errno = e;
			cmd_simple(-1);
			return;
		}
		done += (unsigned long long)w;
	}
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		cmd_simple(-1);
		return;
	}
	close(fd);
	/* The file system's metadata I/O moved the LRU batch as it pleased: start the scenario's use of
	 * the file from an empty batch, as the model does (src/scenario/ops/memory.ts createFile()). */
	drain_lru_batches();
	reply(0);
	flush_line();
}

/* ---------------------------------------------------------------------------------------------- */
/* Files as a reader, a writer and the disk see them. */

/* pread path=P off=O len=L: a buffered read -> ret: bytes, "data": the first word of each page. */
static void cmd_pread(void)
{
	unsigned long long off = num("off", 0), len = num("len", 0), done = 0;
	char *buf;
	int fd;

	fd = open_path_arg("pread", O_RDONLY);
	if (fd < 0)
		return;
	buf = scratch_get(len);
	if (!buf) {
		int e = errno;
		close(fd);
		errno = e;
		cmd_simple(-1);
		return;
	}
	while (done < len) {
		ssize_t r = pread(fd, buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (unsigned long long)r;
	}
	close(fd);
	reply((long long)done);
	{
		struct runs got = { 0 };
		runs_of_buffer(&got, buf, (unsigned long)done);
		runs_emit(&got);
	}
	scratch_put(buf, len);
	flush_line();
}

/* pwrite path=P off=O len=L value=V: a buffered write of V over every page -> ret: bytes. */
static void cmd_pwrite(void)
{
	unsigned long long off = num("off", 0), len = num("len", 0);
	char *buf;
	ssize_t r;
	int fd;

	fd = open_path_arg("pwrite", O_WRONLY);
	if (fd < 0)
		return;
	buf = scratch_get(len);
	if (!buf) {
		close(fd);
		cmd_simple(-1);
		return;
	}
	for (unsigned long long o = 0; o < len; o += PAGE)
		fill_page(buf + o, (uint32_t)num("value", 0));
	r = pwrite(fd, buf, len, (off_t)off);
	int e = errno;
	scratch_put(buf, len);
	close(fd);
	errno = e;
	cmd_simple(r);
}

/* fsync path=P; range=1: sync_file_range(WAIT_BEFORE|WRITE|WAIT_AFTER) instead (the flusher's writeback). */
static void cmd_fsync(void)
{
	int fd, r;

	fd = open_path_arg("fsync", O_RDONLY);
	if (fd < 0)
		return;
	r = num("range", 0) ? sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
						   SYNC_FILE_RANGE_WAIT_AFTER)
			     : fsync(fd);
	close_and_answer(fd, r);
}

/* The block device a file system lives on (/dev/<name> from /sys/dev/block/MAJ:MIN/uevent). */
static int open_bdev(dev_t dev, char *name, size_t size)
{
	char path[96], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", major(dev), minor(dev));
	snprintf(name, size, "?");
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "DEVNAME=", 8)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(name, size, "/dev/%s", line + 8);
		}
	}
	fclose(f);
	return open(name, O_RDONLY | O_CLOEXEC);
}

/* struct fiemap / fiemap_extent (include/uapi/linux/fiemap.h) and FS_IOC_FIEMAP. */
struct fm_extent {
	uint64_t logical, physical, length, reserved64[2];
	uint32_t flags, reserved[3];
};
#define FM_EXTENTS 256
struct fm {
	uint64_t start, length;
	uint32_t flags, mapped_extents, extent_count, reserved;
	struct fm_extent extents[FM_EXTENTS];
};
#define FS_IOC_FIEMAP_ _IOWR('f', 11, struct fiemap_header_)
struct fiemap_header_ {
	uint64_t start, length;
	uint32_t flags, mapped_extents, extent_count, reserved;
};
/* extents whose blocks hold no data of the file on the disk (yet) */
#define FIEMAP_EXTENT_NOT_ON_DISK (0x2 | 0x4 | 0x8 | 0x200 | 0x800) /* UNKNOWN DELALLOC ENCODED INLINE UNWRITTEN */

/*
 * readdisk path=P off=O len=L: what the disk holds for the file's blocks, past the page cache: the
 * file's extents (FIEMAP, without FIEMAP_FLAG_SYNC: nothing is flushed) read from the block device
 * -> "data": the first word of each block (0 where no written extent is). Not with O_DIRECT, which
 * would pin this process's buffer (the scenario's pin counters would move): a buffered read of the
 * device, with the device's cached copy of the block dropped before and after (POSIX_FADV_DONTNEED:
 * the file system writes its data blocks past that cache, so a copy there would be stale).
 */
static void cmd_readdisk(void)
{
	unsigned long long off = num("off", 0), len = num("len", 0);
	static struct fm map;
	struct stat st;
	char dev[80];
	static char blk[PAGE] __attribute__((aligned(4096)));
	int fd, bd = -1;

	fd = open_path_arg("readdisk", O_RDONLY);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0) {
		close_and_answer(fd, -1);
		return;
	}
	memset(&map, 0, sizeof(map));
	map.start = 0;
	map.length = ~0ULL;
	map.extent_count = FM_EXTENTS;
	if (ioctl(fd, FS_IOC_FIEMAP_, &map) < 0) {
		int e = errno;
		close(fd);
		reply(-e);
		reply_str("error", "FIEMAP failed");
		flush_line();
		return;
	}
	close(fd);
	bd = open_bdev(st.st_dev, dev, sizeof(dev));
	if (bd < 0) {
		int e = errno;
		reply(-e);
		reply_str("error", "the block device cannot be opened");
		reply_str("device", dev);
		flush_line();
		if (bd >= 0)
			close(bd);
		return;
	}
	struct runs got = { 0 };
	for (unsigned long long pos = off & ~(PAGE - 1); pos < off + len; pos += PAGE) {
		uint32_t v = 0;
		for (uint32_t i = 0; i < map.mapped_extents && i < FM_EXTENTS; i++) {
			struct fm_extent *x = &map.extents[i];
			if (pos < x->logical || pos >= x->logical + x->length || (x->flags & FIEMAP_EXTENT_NOT_ON_DISK))
				continue;
			off_t at = (off_t)(x->physical + (pos - x->logical));
			posix_fadvise(bd, at, PAGE, POSIX_FADV_DONTNEED);
			if (pread(bd, blk, PAGE, at) == (ssize_t)PAGE)
				v = *(uint32_t *)blk;
			posix_fadvise(bd, at, PAGE, POSIX_FADV_DONTNEED);
			break;
		}
		runs_add(&got, v);
	}
	close(bd);
	reply(0);
	runs_emit(&got);
	flush_line();
}

static void cmd_alive(void)
{
	char path[64], stat[512];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)num("pid", 0));
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		reply(0);
		flush_line();
		return;
	}
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	stat[n > 0 ? n : 0] = 0;
	char *rp = strrchr(stat, ')');
	reply(rp && rp[1] == ' ' && rp[2] != 'Z' ? 1 : 0);
	flush_line();
}

/* Commands both the supervisor and the workers run. Returns 0 for an unknown command. */
static int common_command(const char *c)
{
	if (!strcmp(c, "inspect"))
		cmd_inspect();
	else if (!strcmp(c, "vmstat"))
		cmd_vmstat();
	else if (!strcmp(c, "kmsg"))
		cmd_kmsg();
	else if (!strcmp(c, "readfile"))
		cmd_readfile();
	else if (!strcmp(c, "writefile"))
		cmd_writefile();
	else if (!strcmp(c, "mkfile"))
		cmd_mkfile();
	else if (!strcmp(c, "alive"))
		cmd_alive();
	else if (!strcmp(c, "zeropage"))
		cmd_zeropage();
	else if (!strcmp(c, "release"))
		cmd_release();
	else if (!strcmp(c, "pageinfo"))
		cmd_pageinfo();
	else if (!strcmp(c, "dump_page"))
		cmd_dump_page();
	else if (!strcmp(c, "dma"))
		cmd_dma();
	else if (!strcmp(c, "handle"))
		cmd_handle();
	else if (!strcmp(c, "newhandle"))
		cmd_newhandle();
	else if (!strcmp(c, "pread"))
		cmd_pread();
	else if (!strcmp(c, "pwrite"))
		cmd_pwrite();
	else if (!strcmp(c, "fsync"))
		cmd_fsync();
	else if (!strcmp(c, "readdisk"))
		cmd_readdisk();
	else if (!strcmp(c, "filesize")) {
		struct stat st;
		cmd_simple(stat(arg("path") ? arg("path") : "", &st) < 0 ? -1 : (long)st.st_size);
	} else if (!strcmp(c, "truncate"))
		cmd_simple(truncate(arg("path") ? arg("path") : "", (off_t)num("size", 0)));
	else
		return 0;
	return 1;
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
		} else if (!strcmp(c, "mremap")) {
			cmd_mremap();
		} else if (!strcmp(c, "mlock")) {
			cmd_mlock(1);
		} else if (!strcmp(c, "munlock")) {
			cmd_mlock(0);
		} else if (!strcmp(c, "touch")) {
			cmd_touch();
		} else if (!strcmp(c, "peek")) {
			cmd_peek();
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
		} else if (!strcmp(c, "piperead")) {
			cmd_piperead();
		} else if (!strcmp(c, "uring_rw")) {
			cmd_uring_rw();
		} else if (!strcmp(c, "msync")) {
			cmd_simple(msync((void *)(unsigned long)num("addr", 0), num("len", 0), MS_SYNC));
		} else if (!strcmp(c, "gup")) {
			cmd_gup();
		} else if (!strcmp(c, "gup_test")) {
			cmd_gup_test();
		} else if (!common_command(c)) {
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
			struct utsname u;
			uname(&u);
			kmsg_start(); /* `kmsg` returns what the kernel logs from now on */
			reply(0);
			emit(",\"pid\":%d,\"page_size\":%ld,\"gup_test\":%s,\"gupsim_gup\":%s", (int)getpid(), sysconf(_SC_PAGESIZE),
			     stat("/sys/kernel/debug/gup_test", &st) == 0 ? "true" : "false", gup_dev() >= 0 ? "true" : "false");
			reply_str("release", u.release);
			reply_str("version", u.version);
			flush_line();
		} else if (!strcmp(argv_[0], "spawn")) {
			int fd = (int)num("fd", 0);
			if (fd < 3 || fcntl(fd, F_GETFD) < 0) {
				fail_usage("spawn needs an open fd>=3");
				continue;
			}
			int settled[2];
			if (pipe2(settled, O_CLOEXEC) < 0) {
				cmd_simple(-1);
				continue;
			}
			pid_t pid = fork();
			if (pid == 0) {
				close(settled[0]);
				become_worker(fd);
				settle_child(settled[1]);
				worker_loop();
			}
			close(settled[1]);
			if (pid < 0) {
				close(settled[0]);
				cmd_simple(-1);
				continue;
			}
			wait_settled(settled[0]);
			reply(0);
			emit(",\"pid\":%d", (int)pid);
			flush_line();
		} else if (!strcmp(argv_[0], "quit")) {
			break;
		} else if (!common_command(argv_[0])) {
			fail_usage("unknown command");
		}
	}
	kill_workers();
	_exit(0);
}

/* ---------------------------------------------------------------------------------------------- */
/* Serial mode: one serial line carries the supervisor's and the workers' channels (see the top). */

#define MUX_CHANNELS 13 /* the supervisor + 12 worker descriptors (HELPER_SLOTS in helper.ts) */
#define FRAME '\x1e'

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void frame_out(int tty, const char *head, const char *line, size_t n)
{
	write_all(tty, head, strlen(head));
	write_all(tty, line, n);
	write_all(tty, "\n", 1);
}

static int mux_tty;
static int mux_fds[MUX_CHANNELS];

/*
 * The relay keeps no line buffer (a growing one would fault new pages in during a step: see the
 * helper's own memory): lines are streamed through as they arrive.
 *
 * Host -> guest: "C LINE\n" goes to channel C, the header parsed as it comes.
 */
static int host_ch = -1; /* the channel of the line being relayed; -1 while reading a header */
static int host_skip;    /* a bad header: drop the rest of its line */
static char host_head[16];
static size_t host_headlen;

static void from_host(const char *in, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (host_ch < 0 && !host_skip) {
			char c = in[i++];
			if (c == ' ') {
				char *end;
				long ch;
				host_head[host_headlen] = 0;
				ch = strtol(host_head, &end, 10);
				if (end == host_head || *end || ch < 0 || ch >= MUX_CHANNELS)
					host_skip = 1;
				else
					host_ch = (int)ch;
				host_headlen = 0;
			} else if (c == '\n') {
				host_headlen = 0;
			} else if (host_headlen < sizeof(host_head) - 1) {
				host_head[host_headlen++] = c;
			} else {
				host_skip = 1;
				host_headlen = 0;
			}
			continue;
		}
		const char *nl = memchr(in + i, '\n', n - i);
		size_t seg = nl ? (size_t)(nl - (in + i)) + 1 : n - i;
		if (!host_skip)
			write_all(mux_fds[host_ch], in + i, seg);
		i += seg;
		if (nl) {
			host_ch = -1;
			host_skip = 0;
		}
	}
}

/*
 * Guest -> host: what channel ch has written, a "\x1eC " frame header before each line; a line
 * begun is read to its end before any other channel is served. -1 when the channel is closed.
 */
static int to_host(int ch)
{
	static char in[65536];
	int at_start = 1;

	for (;;) {
		ssize_t r = read(mux_fds[ch], in, sizeof(in));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!at_start)
				write_all(mux_tty, "\n", 1);
			return -1;
		}
		for (size_t i = 0; i < (size_t)r;) {
			if (at_start) {
				char head[16];
				snprintf(head, sizeof(head), "%c%d ", FRAME, ch);
				write_all(mux_tty, head, strlen(head));
				at_start = 0;
			}
			const char *nl = memchr(in + i, '\n', (size_t)r - i);
			size_t seg = nl ? (size_t)(nl - (in + i)) + 1 : (size_t)r - i;
			write_all(mux_tty, in + i, seg);
			i += seg;
			if (nl)
				at_start = 1;
		}
		if (at_start)
			return 0;
	}
}

static void start_supervisor(void);

static int serial_main(const char *dev)
{
	struct termios t;

	mux_tty = open(dev, O_RDWR | O_NOCTTY);
	if (mux_tty < 0) {
		perror(dev);
		return 1;
	}
	if (tcgetattr(mux_tty, &t) == 0) {
		cfmakeraw(&t);
		cfsetispeed(&t, B115200);
		cfsetospeed(&t, B115200);
		tcsetattr(mux_tty, TCSANOW, &t);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	for (;;) {
		int pairs[MUX_CHANNELS][2];
		struct pollfd pfd[MUX_CHANNELS + 1];
		struct utsname u;
		char ready[512];
		int status = 0;
		pid_t pid;

		for (int i = 0; i < MUX_CHANNELS; i++) {
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i]) < 0) {
				perror("socketpair");
				return 1;
			}
		}
		int settled[2];
		if (pipe2(settled, O_CLOEXEC) < 0) {
			perror("pipe");
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			close(settled[0]);
			settle_child(settled[1]);
			/* The supervisor: stdin/stdout on channel 0, descriptors 3.. on the others. */
			int hi = 3 + MUX_CHANNELS - 1 + MUX_CHANNELS * 2 + 8;
			int keep[MUX_CHANNELS];
			setsid();
			/* Move our ends out of the way first, then put them in place. */
			for (int i = 0; i < MUX_CHANNELS; i++)
				keep[i] = fcntl(pairs[i][1], F_DUPFD, hi);
			for (int fd = 0; fd < hi; fd++)
				if (fd != 2)
					close(fd);
			dup2(keep[0], 0);
			dup2(keep[0], 1);
			for (int i = 1; i < MUX_CHANNELS; i++)
				dup2(keep[i], 3 + i - 1);
			for (int i = 0; i < MUX_CHANNELS; i++)
				close(keep[i]);
			start_supervisor();
			_exit(0);
		}
		close(settled[1]);
		wait_settled(settled[0]);
		for (int i = 0; i < MUX_CHANNELS; i++) {
			close(pairs[i][1]);
			mux_fds[i] = pairs[i][0];
		}
		uname(&u);
		snprintf(ready, sizeof(ready), "{\"pid\":%d,\"release\":\"%s\",\"channels\":%d}", (int)pid, u.release, MUX_CHANNELS);
		{
			char head[4] = { FRAME, 'R', ' ', 0 };
			frame_out(mux_tty, head, ready, strlen(ready));
		}
		host_ch = -1;
		host_skip = 0;
		host_headlen = 0;
		for (;;) {
			static char in[65536];
			int n = 0;

			pfd[n].fd = mux_tty;
			pfd[n++].events = POLLIN;
			for (int i = 0; i < MUX_CHANNELS; i++) {
				pfd[n].fd = mux_fds[i];
				pfd[n++].events = POLLIN;
			}
			if (poll(pfd, (nfds_t)n, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (pfd[0].revents & POLLIN) {
				ssize_t r = read(mux_tty, in, sizeof(in));
				if (r > 0)
					from_host(in, (size_t)r);
			}
			int sup_gone = 0;
			for (int i = 0; i < MUX_CHANNELS; i++) {
				if (!(pfd[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				if (to_host(i) == 0)
					continue;
				if (i == 0) {
					sup_gone = 1; /* the supervisor exited (its workers were killed first) */
				} else {
					/* nobody holds the other end any more: stop polling it (poll skips -1) */
					close(mux_fds[i]);
					mux_fds[i] = -1;
				}
			}
			if (sup_gone)
				break;
		}
		waitpid(pid, &status, 0);
		for (int i = 0; i < MUX_CHANNELS; i++)
			if (mux_fds[i] >= 0)
				close(mux_fds[i]);
		{
			char head[4] = { FRAME, 'X', ' ', 0 }, st[16];
			snprintf(st, sizeof(st), "%d", status);
			frame_out(mux_tty, head, st, strlen(st));
		}
	}
}

static void start_supervisor(void)
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
}

int main(int argc, char **argv)
{
	/* The first process: the helper's own memory at its final size, all of it present, on the LRU. */
	own_memory_init();
	settle_own_memory();
	drain_lru_batches();
	if (argc == 3 && !strcmp(argv[1], "--serial"))
		return serial_main(argv[2]);
	start_supervisor();
	return 0;
}
