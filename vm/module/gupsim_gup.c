// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * gupsim_gup: calls the kernel's GUP API on behalf of user space, for gupsim's live-kernel probe in
 * throwaway qemu VMs (src/probe/vm/). Debian kernels have no CONFIG_GUP_TEST, so raw
 * get_user_pages*() / pin_user_pages*() calls need a module. See gupsim_gup.h for the interface.
 *
 * Built out of tree against Debian's linux-headers packages of 6.1 and 6.12 (the releases gupsim
 * boots); the few API differences between them are marked with the release that changed them.
 * This module does what it is asked, misuse included (double unpin, put_page() of a pinned page),
 * and keeps every page it took until told otherwise: the VM is thrown away after the run.
 */
#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/huge_mm.h>
#include <linux/highmem.h>
#include <linux/mmdebug.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/ktime.h>
#include "gupsim_gup.h"

struct gupsim_handle {
	struct page **pages;
	unsigned long nr, cap;
};

static DEFINE_MUTEX(gupsim_lock);
static struct gupsim_handle handles[GUPSIM_MAX_HANDLES];
/* Handles given out by GUPSIM_IOC_NEW_HANDLE (0 is never given out). */
static u32 handles_used = 1;

/* ------------------------------------------------------------------------------------------ */
/* FOLL_* names and this kernel's values. */

struct foll_name {
	const char *name;
	unsigned int value;
};

#define F(x) { #x, x }
static const struct foll_name foll_names[] = {
	F(FOLL_WRITE), F(FOLL_GET), F(FOLL_DUMP), F(FOLL_FORCE), F(FOLL_NOWAIT), F(FOLL_NOFAULT),
	F(FOLL_HWPOISON), F(FOLL_ANON), F(FOLL_LONGTERM), F(FOLL_SPLIT_PMD),
	/* Macros in include/linux/mm.h until 6.3; the public ones are an enum in mm_types.h since 6.4. */
#if defined(FOLL_PCI_P2PDMA) || LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	F(FOLL_PCI_P2PDMA),
#endif
#if defined(FOLL_INTERRUPTIBLE) || LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	F(FOLL_INTERRUPTIBLE),
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	F(FOLL_HONOR_NUMA_FAULT),
#endif
	/* Flags that moved to mm/internal.h (6.4): visible to modules only while they were macros. */
#ifdef FOLL_TOUCH
	F(FOLL_TOUCH),
#endif
#ifdef FOLL_TRIED
	F(FOLL_TRIED),
#endif
#ifdef FOLL_REMOTE
	F(FOLL_REMOTE),
#endif
#ifdef FOLL_PIN
	F(FOLL_PIN),
#endif
#ifdef FOLL_FAST_ONLY
	F(FOLL_FAST_ONLY),
#endif
#ifdef FOLL_MIGRATION
	F(FOLL_MIGRATION),
#endif
#ifdef FOLL_UNLOCKABLE
	F(FOLL_UNLOCKABLE),
#endif
};
#undef F

/* Parse "FOLL_A,FOLL_B" into *flags; -ENOENT (with the name left in names) for an unknown one. */
static int parse_flags(char *names, unsigned int *flags)
{
	char *s = names, *tok;

	*flags = 0;
	while ((tok = strsep(&s, ",|")) != NULL) {
		size_t i;
		bool found = false;

		tok = strim(tok);
		if (!*tok)
			continue;
		for (i = 0; i < ARRAY_SIZE(foll_names); i++) {
			if (!strcmp(tok, foll_names[i].name)) {
				*flags |= foll_names[i].value;
				found = true;
				break;
			}
		}
		if (!found) {
			memmove(names, tok, strlen(tok) + 1);
			return -ENOENT;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Handles. */

static int handle_append(struct gupsim_handle *h, struct page **pages, unsigned long nr)
{
	if (h->nr + nr > h->cap) {
		unsigned long cap = max(h->nr + nr, h->cap * 2);
		struct page **p = kvmalloc_array(cap, sizeof(*p), GFP_KERNEL);

		if (!p)
			return -ENOMEM;
		if (h->nr)
			memcpy(p, h->pages, h->nr * sizeof(*p));
		kvfree(h->pages);
		h->pages = p;
		h->cap = cap;
	}
	memcpy(h->pages + h->nr, pages, nr * sizeof(*pages));
	h->nr += nr;
	return 0;
}

static struct gupsim_handle *get_handle(u32 n)
{
	return n < GUPSIM_MAX_HANDLES ? &handles[n] : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* GUP calls. */

/* The mm of process pid (0: the caller's), with a reference; NULL if there is none. */
static struct mm_struct *mm_of(pid_t nr)
{
	struct mm_struct *mm;

	if (nr) {
		struct pid *pid = find_get_pid(nr);
		struct task_struct *task = pid ? get_pid_task(pid, PIDTYPE_PID) : NULL;

		put_pid(pid);
		if (!task)
			return NULL;
		mm = get_task_mm(task);
		put_task_struct(task);
		return mm;
	}
	return get_task_mm(current);
}

static long call_remote(struct gupsim_gup *req, unsigned int flags, struct page **pages)
{
	struct mm_struct *mm = mm_of(req->pid);
	long ret;

	if (!mm)
		return -ESRCH;
	/*
	 * The caller holds mmap_lock and passes locked == NULL, as most in-kernel callers do (and as
	 * 6.1 demands with FOLL_LONGTERM: __get_user_pages_remote() WARNs and fails with -EINVAL for
	 * FOLL_LONGTERM with a non-NULL locked). The vmas argument went away in 6.5.
	 */
	mmap_read_lock(mm);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	if (req->fn == GUPSIM_PIN_USER_PAGES_REMOTE)
		ret = pin_user_pages_remote(mm, req->addr, req->nr_pages, flags, pages, NULL);
	else
		ret = get_user_pages_remote(mm, req->addr, req->nr_pages, flags, pages, NULL);
#else
	if (req->fn == GUPSIM_PIN_USER_PAGES_REMOTE)
		ret = pin_user_pages_remote(mm, req->addr, req->nr_pages, flags, pages, NULL, NULL);
	else
		ret = get_user_pages_remote(mm, req->addr, req->nr_pages, flags, pages, NULL, NULL);
#endif
	mmap_read_unlock(mm);
	mmput(mm);
	return ret;
}

static long call_gup(struct gupsim_gup *req, unsigned int flags, struct page **pages)
{
	struct mm_struct *mm = current->mm;
	unsigned long start = req->addr, nr = req->nr_pages;
	long ret;

	switch (req->fn) {
	case GUPSIM_GET_USER_PAGES_FAST:
		return get_user_pages_fast(start, (int)nr, flags, pages);
	case GUPSIM_PIN_USER_PAGES_FAST:
		return pin_user_pages_fast(start, (int)nr, flags, pages);
	case GUPSIM_GET_USER_PAGES_FAST_ONLY:
		return get_user_pages_fast_only(start, (int)nr, flags, pages);
	case GUPSIM_GET_USER_PAGES_UNLOCKED:
		return get_user_pages_unlocked(start, nr, pages, flags);
	case GUPSIM_PIN_USER_PAGES_UNLOCKED:
		return pin_user_pages_unlocked(start, nr, pages, flags);
	case GUPSIM_GET_USER_PAGES_REMOTE:
	case GUPSIM_PIN_USER_PAGES_REMOTE:
		return call_remote(req, flags, pages);
	case GUPSIM_GET_USER_PAGES:
	case GUPSIM_PIN_USER_PAGES:
		/* The caller holds mmap_lock; the vmas argument went away in 6.5. */
		if (!mm)
			return -EFAULT;
		mmap_read_lock(mm);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
		if (req->fn == GUPSIM_PIN_USER_PAGES)
			ret = pin_user_pages(start, nr, flags, pages);
		else
			ret = get_user_pages(start, nr, flags, pages);
#else
		if (req->fn == GUPSIM_PIN_USER_PAGES)
			ret = pin_user_pages(start, nr, flags, pages, NULL);
		else
			ret = get_user_pages(start, nr, flags, pages, NULL);
#endif
		mmap_read_unlock(mm);
		return ret;
	}
	return -EINVAL;
}

static long ioc_gup(struct gupsim_gup __user *arg)
{
	struct gupsim_gup req;
	struct gupsim_handle *h;
	struct page **pages;
	unsigned int flags;
	long ret;
	int err;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	req.flags[GUPSIM_FLAGS_LEN - 1] = 0;
	h = get_handle(req.handle);
	if (!h || req.fn < GUPSIM_GET_USER_PAGES || req.fn > GUPSIM_PIN_USER_PAGES_REMOTE ||
	    req.nr_pages > GUPSIM_MAX_NR_PAGES)
		return -EINVAL;
	err = parse_flags(req.flags, &flags);
	if (err) {
		if (copy_to_user(arg->flags, req.flags, sizeof(req.flags)))
			return -EFAULT;
		return err;
	}
	pages = kvcalloc(max_t(u64, req.nr_pages, 1), sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	mutex_lock(&gupsim_lock);
	ret = call_gup(&req, flags, pages);
	req.first = h->nr;
	if (ret > 0) {
		err = handle_append(h, pages, ret);
		if (err) {
			/* Cannot keep them: give them back rather than lose them. */
			pr_warn("gupsim_gup: no memory to keep %ld pages in handle %u\n", ret, req.handle);
			if (req.fn >= GUPSIM_PIN_USER_PAGES)
				unpin_user_pages(pages, ret);
			else
				while (ret > 0)
					put_page(pages[--ret]);
		}
	}
	mutex_unlock(&gupsim_lock);
	kvfree(pages);
	if (err)
		return err;
	req.ret = ret;
	req.gup_flags = flags;
	return copy_to_user(arg, &req, sizeof(req)) ? -EFAULT : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Releases: exactly what was asked. */

static long ioc_release(struct gupsim_release __user *arg)
{
	struct gupsim_release req;
	struct gupsim_handle *h;
	long ret = 0;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	h = get_handle(req.handle);
	if (!h)
		return -EINVAL;
	mutex_lock(&gupsim_lock);
	switch (req.fn) {
	case GUPSIM_UNPIN_USER_PAGES:
	case GUPSIM_UNPIN_USER_PAGES_DIRTY_LOCK:
		/*
		 * A negative count goes through as the kernel would get it (IS_ERR_VALUE(npages) is a
		 * WARN there); a count within the handle is passed with its pages.
		 */
		if (req.count >= 0 && (req.index > h->nr || req.count > h->nr - req.index)) {
			ret = -ERANGE;
			break;
		}
		if (req.fn == GUPSIM_UNPIN_USER_PAGES)
			unpin_user_pages(h->pages ? h->pages + req.index : NULL, (unsigned long)req.count);
		else
			unpin_user_pages_dirty_lock(h->pages ? h->pages + req.index : NULL, (unsigned long)req.count,
						    req.dirty != 0);
		break;
	case GUPSIM_UNPIN_USER_PAGE:
		if (req.index >= h->nr) {
			ret = -ERANGE;
			break;
		}
		unpin_user_page(h->pages[req.index]);
		break;
	case GUPSIM_PUT_PAGE: {
		u64 i;

		if (req.count < 0 || req.index > h->nr || req.count > h->nr - req.index) {
			ret = -ERANGE;
			break;
		}
		for (i = req.index; i < req.index + req.count; i++)
			put_page(h->pages[i]);
		break;
	}
	default:
		ret = -EINVAL;
	}
	mutex_unlock(&gupsim_lock);
	return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Looking at pages. */

static struct page *lookup(u32 by, u32 handle, u64 index, u64 pfn)
{
	struct gupsim_handle *h;

	if (by == GUPSIM_BY_PFN)
		return pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;
	h = get_handle(handle);
	return h && index < h->nr ? h->pages[index] : NULL;
}

static void fill_info(struct page *page, struct gupsim_page_info *pi)
{
	struct folio *folio = page_folio(page);
	bool large = folio_test_large(folio);

	pi->pfn = page_to_pfn(page);
	pi->head_pfn = folio_pfn(folio);
	pi->flags = folio->flags;
	pi->refcount = page_ref_count(page);
	pi->folio_refcount = folio_ref_count(folio);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	pi->mapcount = folio_mapcount(folio);	/* inline since 6.9 */
#else
	pi->mapcount = -1;			/* folio_mapcount() is not exported */
#endif
	pi->page_mapcount = atomic_read(&page->_mapcount) + 1;
	pi->entire_mapcount = large ? folio_entire_mapcount(folio) : 0;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	/* 6.3 replaced page[1].compound_pincount with folio->_pincount. */
	pi->pincount = large ? atomic_read(&folio->_pincount) : -1;
#else
	pi->pincount = large ? atomic_read(&folio_page(folio, 1)->compound_pincount) : -1;
#endif
	pi->order = folio_order(folio);
	pi->maybe_dma_pinned = folio_maybe_dma_pinned(folio);
	pi->anon = folio_test_anon(folio);
	pi->anon_exclusive = pi->anon ? PageAnonExclusive(page) : 0;
	pi->head_anon_exclusive = pi->anon ? PageAnonExclusive(&folio->page) : 0;
	pi->zero = is_zero_pfn(pi->pfn);	/* the huge zero folio is not exported: kpageflags has it */
}

static long ioc_page_info(struct gupsim_page_info __user *arg)
{
	struct gupsim_page_info pi;
	struct page *page;

	if (copy_from_user(&pi, arg, sizeof(pi)))
		return -EFAULT;
	mutex_lock(&gupsim_lock);
	page = lookup(pi.by, pi.handle, pi.index, pi.pfn);
	if (page)
		fill_info(page, &pi);
	mutex_unlock(&gupsim_lock);
	if (!page)
		return -ENOENT;
	return copy_to_user(arg, &pi, sizeof(pi)) ? -EFAULT : 0;
}

static long ioc_dump_page(struct gupsim_dump_page __user *arg)
{
	struct gupsim_dump_page req;
	struct page *page;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	req.reason[sizeof(req.reason) - 1] = 0;
	mutex_lock(&gupsim_lock);
	page = lookup(req.by, req.handle, req.index, req.pfn);
	if (page)
		dump_page(page, req.reason[0] ? req.reason : "gupsim_gup");
	mutex_unlock(&gupsim_lock);
	return page ? 0 : -ENOENT;
}

/* A device's access to held pages: the CPU through kmap_local_page(), as a driver without DMA. */
static long ioc_dma(struct gupsim_dma __user *arg)
{
	struct gupsim_dma req;
	struct gupsim_handle *h;
	long ret = 0;
	u64 i;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	h = get_handle(req.handle);
	if (!h)
		return -EINVAL;
	mutex_lock(&gupsim_lock);
	if (req.index > h->nr || req.count > h->nr - req.index || (!req.write && req.count != 1)) {
		ret = -ERANGE;
		goto out;
	}
	for (i = req.index; i < req.index + req.count; i++) {
		u32 *p = kmap_local_page(h->pages[i]);

		if (req.write)
			memset32(p, req.value, PAGE_SIZE / sizeof(u32));
		else
			req.value = READ_ONCE(*p);
		kunmap_local(p);
	}
out:
	mutex_unlock(&gupsim_lock);
	if (!ret && copy_to_user(arg, &req, sizeof(req)))
		ret = -EFAULT;
	return ret;
}

/*
 * The entry mapping an address: a page table walk under mmap_lock (x86-64 has no highmem page
 * tables, so the PTE table is read through the direct map, pte_offset_kernel()).
 */
static long ioc_mapping(struct gupsim_mapping __user *arg)
{
	struct gupsim_mapping req;
	struct mm_struct *mm;
	unsigned long addr;
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud, pudv;
	pmd_t *pmd, pmdv;
	pte_t ptev;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	mm = mm_of(req.pid);
	if (!mm)
		return -ESRCH;
	addr = req.addr;
	req.level = 0;
	req.present = 0;
	req.writable = 0;
	req.pfn = 0;
	mmap_read_lock(mm);
	pgd = pgd_offset(mm, addr);
	if (pgd_none(*pgd) || pgd_bad(*pgd))
		goto out;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(*p4d) || p4d_bad(*p4d))
		goto out;
	pud = pud_offset(p4d, addr);
	pudv = READ_ONCE(*pud);
	if (pud_none(pudv))
		goto out;
	if (pud_leaf(pudv)) {
		req.level = 3;
		req.present = pud_present(pudv);
		req.writable = req.present && pud_write(pudv);
		req.pfn = req.present ? pud_pfn(pudv) + ((addr & ~PUD_MASK) >> PAGE_SHIFT) : 0;
		goto out;
	}
	pmd = pmd_offset(pud, addr);
	pmdv = READ_ONCE(*pmd);
	if (pmd_none(pmdv))
		goto out;
	if (pmd_leaf(pmdv) || !pmd_present(pmdv)) {
		req.level = 2;
		req.present = pmd_present(pmdv);
		req.writable = req.present && pmd_write(pmdv);
		req.pfn = req.present ? pmd_pfn(pmdv) + ((addr & ~PMD_MASK) >> PAGE_SHIFT) : 0;
		goto out;
	}
	ptev = READ_ONCE(*pte_offset_kernel(pmd, addr));
	if (pte_none(ptev))
		goto out;
	req.level = 1;
	req.present = pte_present(ptev);
	req.writable = req.present && pte_write(ptev);
	req.pfn = req.present ? pte_pfn(ptev) : 0;
out:
	mmap_read_unlock(mm);
	mmput(mm);
	return copy_to_user(arg, &req, sizeof(req)) ? -EFAULT : 0;
}

static long ioc_handle(struct gupsim_handle_info __user *arg)
{
	struct gupsim_handle_info req;
	struct gupsim_handle *h;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	h = get_handle(req.handle);
	if (!h)
		return -EINVAL;
	mutex_lock(&gupsim_lock);
	req.nr = h->nr;
	mutex_unlock(&gupsim_lock);
	return copy_to_user(arg, &req, sizeof(req)) ? -EFAULT : 0;
}

/* ------------------------------------------------------------------------------------------ */
/*
 * mm/gup_test.c's benchmark and basic tests (ioctls 1-6), for `gupsim gup_test --kernel`: walk
 * [addr, addr + size) in chunks of nr_pages_per_call with one GUP entry point, stop at the first
 * chunk that does not take all its pages, verify the pins (WARN and dump_page() of the first page
 * that is not), dump the chosen pages, release everything.
 */
static bool is_pin_cmd(unsigned int cmd)
{
	return cmd == PIN_FAST_BENCHMARK || cmd == PIN_BASIC_TEST || cmd == PIN_LONGTERM_BENCHMARK;
}

static void gup_test_verify(unsigned int cmd, struct page **pages, unsigned long nr)
{
	unsigned long i;

	if (!is_pin_cmd(cmd))
		return;
	for (i = 0; i < nr; i++) {
		struct folio *folio = page_folio(pages[i]);

		if (WARN(!folio_maybe_dma_pinned(folio), "pages[%lu] is NOT dma-pinned\n", i)) {
			dump_page(&folio->page, "gup_test failure");
			break;
		} else if (cmd == PIN_LONGTERM_BENCHMARK &&
			   WARN(!folio_is_longterm_pinnable(folio), "pages[%lu] is NOT pinnable but pinned\n", i)) {
			dump_page(&folio->page, "gup_test failure");
			break;
		}
	}
}

static void gup_test_dump(struct gup_test *gup, struct page **pages, unsigned long nr)
{
	unsigned int i;

	/* which_pages[] is 1-based; out-of-range entries are zeroed. */
	for (i = 0; i < GUP_TEST_MAX_PAGES_TO_DUMP; i++) {
		if (gup->which_pages[i] > nr) {
			pr_warn("ZEROING due to out of range: .which_pages[%u]: %u\n", i, gup->which_pages[i]);
			gup->which_pages[i] = 0;
		}
	}
	for (i = 0; i < GUP_TEST_MAX_PAGES_TO_DUMP; i++) {
		unsigned int n = gup->which_pages[i];

		if (n) {
			pr_info("---- page #%u, starting from user virt addr: 0x%llx\n", n - 1, gup->addr);
			dump_page(pages[n - 1], "gup_test: dump_pages() test");
		}
	}
}

static void gup_test_put(unsigned int cmd, struct page **pages, unsigned long nr, u32 test_flags)
{
	unsigned long i;

	if (is_pin_cmd(cmd) || (cmd == DUMP_USER_PAGES_TEST && (test_flags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN))) {
		unpin_user_pages(pages, nr);
		return;
	}
	for (i = 0; i < nr; i++)
		put_page(pages[i]);
}

static long ioc_gup_test(unsigned int cmd, struct gup_test __user *arg)
{
	struct gup_test gup;
	bool lock = cmd != GUP_FAST_BENCHMARK && cmd != PIN_FAST_BENCHMARK;
	unsigned long i = 0, nr_pages, addr, next, end;
	struct page **pages;
	ktime_t t0, t1;
	long nr;
	long ret = 0;

	if (copy_from_user(&gup, arg, sizeof(gup)))
		return -EFAULT;
	if (check_add_overflow((unsigned long)gup.addr, (unsigned long)gup.size, &end))
		return -EINVAL;
	nr_pages = gup.size / PAGE_SIZE;
	pages = kvcalloc(nr_pages, sizeof(void *), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	if (lock && mmap_read_lock_killable(current->mm)) {
		ret = -EINTR;
		goto free;
	}
	nr = gup.nr_pages_per_call;
	t0 = ktime_get();
	for (addr = gup.addr; addr < end; addr = next) {
		if (nr != gup.nr_pages_per_call)
			break;
		next = addr + nr * PAGE_SIZE;
		if (next > end) {
			next = end;
			nr = (next - addr) / PAGE_SIZE;
		}
		switch (cmd) {
		case GUP_FAST_BENCHMARK:
			nr = get_user_pages_fast(addr, nr, gup.gup_flags, pages + i);
			break;
		case PIN_FAST_BENCHMARK:
			nr = pin_user_pages_fast(addr, nr, gup.gup_flags, pages + i);
			break;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
		case GUP_BASIC_TEST:
			nr = get_user_pages(addr, nr, gup.gup_flags, pages + i);
			break;
		case PIN_BASIC_TEST:
			nr = pin_user_pages(addr, nr, gup.gup_flags, pages + i);
			break;
		case PIN_LONGTERM_BENCHMARK:
			nr = pin_user_pages(addr, nr, gup.gup_flags | FOLL_LONGTERM, pages + i);
			break;
		case DUMP_USER_PAGES_TEST:
			if (gup.test_flags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN)
				nr = pin_user_pages(addr, nr, gup.gup_flags, pages + i);
			else
				nr = get_user_pages(addr, nr, gup.gup_flags, pages + i);
			break;
#else
		case GUP_BASIC_TEST:
			nr = get_user_pages(addr, nr, gup.gup_flags, pages + i, NULL);
			break;
		case PIN_BASIC_TEST:
			nr = pin_user_pages(addr, nr, gup.gup_flags, pages + i, NULL);
			break;
		case PIN_LONGTERM_BENCHMARK:
			nr = pin_user_pages(addr, nr, gup.gup_flags | FOLL_LONGTERM, pages + i, NULL);
			break;
		case DUMP_USER_PAGES_TEST:
			if (gup.test_flags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN)
				nr = pin_user_pages(addr, nr, gup.gup_flags, pages + i, NULL);
			else
				nr = get_user_pages(addr, nr, gup.gup_flags, pages + i, NULL);
			break;
#endif
		default:
			ret = -EINVAL;
			goto unlock;
		}
		if (nr <= 0)
			break;
		i += nr;
	}
	t1 = ktime_get();
	nr_pages = i;
	gup.get_delta_usec = ktime_us_delta(t1, t0);
	gup.size = addr - gup.addr;
	gup_test_verify(cmd, pages, nr_pages);
	if (cmd == DUMP_USER_PAGES_TEST)
		gup_test_dump(&gup, pages, nr_pages);
	t0 = ktime_get();
	gup_test_put(cmd, pages, nr_pages, gup.test_flags);
	t1 = ktime_get();
	gup.put_delta_usec = ktime_us_delta(t1, t0);
unlock:
	if (lock)
		mmap_read_unlock(current->mm);
free:
	kvfree(pages);
	if (!ret && copy_to_user(arg, &gup, sizeof(gup)))
		ret = -EFAULT;
	return ret;
}

/* ------------------------------------------------------------------------------------------ */

static long gupsim_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *p = (void __user *)arg;

	switch (cmd) {
	case GUPSIM_IOC_GUP:
		return ioc_gup(p);
	case GUPSIM_IOC_RELEASE:
		return ioc_release(p);
	case GUPSIM_IOC_PAGE_INFO:
		return ioc_page_info(p);
	case GUPSIM_IOC_DUMP_PAGE:
		return ioc_dump_page(p);
	case GUPSIM_IOC_DMA:
		return ioc_dma(p);
	case GUPSIM_IOC_HANDLE:
		return ioc_handle(p);
	case GUPSIM_IOC_MAPPING:
		return ioc_mapping(p);
	case GUPSIM_IOC_NEW_HANDLE: {
		struct gupsim_handle_info h = { 0 };

		mutex_lock(&gupsim_lock);
		if (handles_used < GUPSIM_MAX_HANDLES)
			h.handle = handles_used++;
		mutex_unlock(&gupsim_lock);
		if (!h.handle)
			return -ENOSPC;
		return copy_to_user(p, &h, sizeof(h)) ? -EFAULT : 0;
	}
	case GUPSIM_IOC_VERSION: {
		struct gupsim_version v = { GUPSIM_GUP_ABI, FOLL_WRITE, FOLL_LONGTERM, 0 };

		return copy_to_user(p, &v, sizeof(v)) ? -EFAULT : 0;
	}
	case GUP_FAST_BENCHMARK:
	case PIN_FAST_BENCHMARK:
	case PIN_LONGTERM_BENCHMARK:
	case GUP_BASIC_TEST:
	case PIN_BASIC_TEST:
	case DUMP_USER_PAGES_TEST:
		return ioc_gup_test(cmd, p);
	}
	return -ENOTTY;
}

static const struct file_operations gupsim_fops = {
	.owner = THIS_MODULE,
	.open = nonseekable_open,
	.unlocked_ioctl = gupsim_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice gupsim_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "gupsim_gup",
	.fops = &gupsim_fops,
	.mode = 0666,
};

static int __init gupsim_init(void)
{
	return misc_register(&gupsim_dev);
}

/* Unloading gives back nothing a handle holds (the VM is thrown away); only the arrays are freed. */
static void __exit gupsim_exit(void)
{
	int i;

	misc_deregister(&gupsim_dev);
	for (i = 0; i < GUPSIM_MAX_HANDLES; i++)
		kvfree(handles[i].pages);
}

module_init(gupsim_init);
module_exit(gupsim_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_AUTHOR("gupsim");
MODULE_DESCRIPTION("get_user_pages / pin_user_pages on behalf of user space, for gupsim's live-kernel probe");
