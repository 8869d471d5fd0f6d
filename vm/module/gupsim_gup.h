/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * gupsim_gup: the user-space interface of gupsim's GUP module (gupsim_gup.c), shared with the probe
 * helper (src/probe/helper.c), which drives it inside the throwaway VMs of `gupsim probe --kernel`.
 *
 * A misc device, /dev/gupsim_gup. Pages taken by a GUP call are kept in a numbered *handle*
 * (module-wide, so any process may release them, and they outlive the process that took them, as
 * a leaked pin does). Nothing is released unless asked, and releases do exactly what they are asked
 * to (a second unpin, put_page() on a pinned page): the kernel's own consequences are the point.
 *
 * FOLL_* flags travel by NAME ("FOLL_WRITE,FOLL_LONGTERM"): the module turns them into the values
 * of the kernel it was built for (FOLL_LONGTERM is 0x10000 on 6.1, 0x100 on 6.12). A name that
 * kernel's headers do not define is refused with ENOENT and echoed back in `flags`.
 *
 * Layout: fixed-size fields only, naturally aligned, identical for 32/64-bit user space.
 */
#ifndef GUPSIM_GUP_H
#define GUPSIM_GUP_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/ioctl.h>
#else
#include <linux/types.h>
#include <sys/ioctl.h>
#endif

#define GUPSIM_GUP_DEVICE "/dev/gupsim_gup"
#define GUPSIM_GUP_ABI 1

#define GUPSIM_MAX_HANDLES 4096
#define GUPSIM_FLAGS_LEN 256
/* Pages one GUP call may ask for (16 GiB of 4 KiB pages). */
#define GUPSIM_MAX_NR_PAGES (1UL << 22)

/* The GUP entry point a GUPSIM_IOC_GUP request calls. */
enum gupsim_gup_fn {
	GUPSIM_GET_USER_PAGES = 1,
	GUPSIM_GET_USER_PAGES_FAST,
	GUPSIM_GET_USER_PAGES_FAST_ONLY,
	GUPSIM_GET_USER_PAGES_UNLOCKED,
	GUPSIM_GET_USER_PAGES_REMOTE,
	GUPSIM_PIN_USER_PAGES,
	GUPSIM_PIN_USER_PAGES_FAST,
	GUPSIM_PIN_USER_PAGES_UNLOCKED,
	GUPSIM_PIN_USER_PAGES_REMOTE,
};

/* GUPSIM_IOC_GUP: call fn on [addr, addr + nr_pages pages) of the caller (or of pid, *_remote). */
struct gupsim_gup {
	__u32 fn;		/* enum gupsim_gup_fn */
	__u32 handle;		/* pages taken are appended to this handle */
	__u64 addr;
	__u64 nr_pages;
	__s32 pid;		/* *_remote: the target process (0: the caller's mm) */
	__u32 gup_flags;	/* out: what the names mean on this kernel */
	__s64 ret;		/* out: the call's return value (pages, or -errno) */
	__u64 first;		/* out: the handle's index of the first page taken */
	char flags[GUPSIM_FLAGS_LEN];	/* in: FOLL_* names, comma-separated; out on ENOENT: the unknown one */
};

/* The release a GUPSIM_IOC_RELEASE request calls. */
enum gupsim_release_fn {
	GUPSIM_UNPIN_USER_PAGES = 1,	/* unpin_user_pages(&pages[index], count) */
	GUPSIM_UNPIN_USER_PAGES_DIRTY_LOCK,	/* unpin_user_pages_dirty_lock(&pages[index], count, dirty) */
	GUPSIM_UNPIN_USER_PAGE,		/* unpin_user_page(pages[index]) */
	GUPSIM_PUT_PAGE,		/* put_page(pages[i]) for i in [index, index + count) */
};

struct gupsim_release {
	__u32 fn;		/* enum gupsim_release_fn */
	__u32 handle;
	__u64 index;
	__s64 count;		/* passed on as is to unpin_user_pages*() (an errno value included) */
	__u32 dirty;
	__u32 pad;
};

/* GUPSIM_IOC_PAGE_INFO / GUPSIM_IOC_DUMP_PAGE: a page a handle holds, or any page frame. */
#define GUPSIM_BY_HANDLE 0
#define GUPSIM_BY_PFN 1

struct gupsim_page_info {
	__u32 by;		/* GUPSIM_BY_* */
	__u32 handle;
	__u64 index;
	__u64 pfn;		/* in (by pfn) and out */
	__u64 head_pfn;		/* out: the folio's first page */
	__u64 flags;		/* out: the folio's page->flags */
	__s32 refcount;		/* page_ref_count(page) */
	__s32 folio_refcount;	/* folio_ref_count(folio) */
	__s32 mapcount;		/* folio_mapcount(folio); -1 where it is not exported (6.1) */
	__s32 page_mapcount;	/* atomic_read(&page->_mapcount) + 1: this page's PTE maps */
	__s32 entire_mapcount;	/* folio_entire_mapcount(folio): PMD/PUD maps (large folios), else 0 */
	__s32 pincount;		/* large folio's pin count (6.1: page[1].compound_pincount; 6.12: _pincount); -1 if small */
	__u32 order;		/* folio_order(folio) */
	__u32 maybe_dma_pinned;	/* folio_maybe_dma_pinned(folio) */
	__u32 anon;		/* folio_test_anon(folio) */
	__u32 anon_exclusive;	/* PageAnonExclusive(page) (anon only) */
	__u32 head_anon_exclusive;	/* PageAnonExclusive(&folio->page): the bit of PMD-mapped THPs */
	__u32 zero;		/* is_zero_pfn(): the shared zero page (not the huge zero folio) */
};

struct gupsim_dump_page {
	__u32 by;		/* GUPSIM_BY_* */
	__u32 handle;
	__u64 index;
	__u64 pfn;
	char reason[64];
};

/*
 * GUPSIM_IOC_DMA: a device's access to pages a handle holds, through kmap_local_page():
 * write fills each page of [index, index + count) with the 32-bit value; read returns the first
 * 32-bit word of pages[index] in value.
 */
struct gupsim_dma {
	__u32 handle;
	__u32 write;
	__u64 index;
	__u64 count;
	__u32 value;
	__u32 pad;
};

/* GUPSIM_IOC_HANDLE: how many entries a handle has. GUPSIM_IOC_NEW_HANDLE: a handle never used before (in .handle). */
struct gupsim_handle_info {
	__u32 handle;
	__u32 pad;
	__u64 nr;
};

/*
 * GUPSIM_IOC_MAPPING: the page table entry that maps addr in process pid (0: the caller), read
 * under mmap_lock: its level (0: none, 1: PTE, 2: PMD, 3: PUD leaf), whether it is present and
 * writable, and the pfn it maps at addr.
 */
struct gupsim_mapping {
	__s32 pid;
	__u32 level;
	__u64 addr;
	__u64 pfn;
	__u32 present;
	__u32 writable;
};

/* GUPSIM_IOC_VERSION: the module's ABI and the flag values of this kernel, for the record. */
struct gupsim_version {
	__u32 abi;
	__u32 foll_write;
	__u32 foll_longterm;
	__u32 pad;
};

#define GUPSIM_IOC_MAGIC 0xb7
#define GUPSIM_IOC_GUP		_IOWR(GUPSIM_IOC_MAGIC, 1, struct gupsim_gup)
#define GUPSIM_IOC_RELEASE	_IOW(GUPSIM_IOC_MAGIC, 2, struct gupsim_release)
#define GUPSIM_IOC_PAGE_INFO	_IOWR(GUPSIM_IOC_MAGIC, 3, struct gupsim_page_info)
#define GUPSIM_IOC_DUMP_PAGE	_IOW(GUPSIM_IOC_MAGIC, 4, struct gupsim_dump_page)
#define GUPSIM_IOC_DMA		_IOWR(GUPSIM_IOC_MAGIC, 5, struct gupsim_dma)
#define GUPSIM_IOC_HANDLE	_IOWR(GUPSIM_IOC_MAGIC, 6, struct gupsim_handle_info)
#define GUPSIM_IOC_VERSION	_IOR(GUPSIM_IOC_MAGIC, 7, struct gupsim_version)
#define GUPSIM_IOC_MAPPING	_IOWR(GUPSIM_IOC_MAGIC, 8, struct gupsim_mapping)
#define GUPSIM_IOC_NEW_HANDLE	_IOR(GUPSIM_IOC_MAGIC, 9, struct gupsim_handle_info)

/*
 * The ioctls of mm/gup_test.c (CONFIG_GUP_TEST, which Debian kernels lack), on this device with
 * the same numbers and struct, for `gupsim gup_test --kernel`: tools/testing/selftests/mm/gup_test.c
 * semantics (GUP_FAST_BENCHMARK ... DUMP_USER_PAGES_TEST).
 */
#define GUP_TEST_MAX_PAGES_TO_DUMP 8
#define GUP_TEST_FLAG_DUMP_PAGES_USE_PIN 0x1

struct gup_test {
	__u64 get_delta_usec;
	__u64 put_delta_usec;
	__u64 addr;
	__u64 size;
	__u32 nr_pages_per_call;
	__u32 gup_flags;
	__u32 test_flags;
	__u32 which_pages[GUP_TEST_MAX_PAGES_TO_DUMP];
};

#define GUP_FAST_BENCHMARK	_IOWR('g', 1, struct gup_test)
#define PIN_FAST_BENCHMARK	_IOWR('g', 2, struct gup_test)
#define PIN_LONGTERM_BENCHMARK	_IOWR('g', 3, struct gup_test)
#define GUP_BASIC_TEST		_IOWR('g', 4, struct gup_test)
#define PIN_BASIC_TEST		_IOWR('g', 5, struct gup_test)
#define DUMP_USER_PAGES_TEST	_IOWR('g', 6, struct gup_test)

#endif /* GUPSIM_GUP_H */
