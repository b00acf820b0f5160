// SPDX-License-Identifier: GPL-2.0
/*
 * A 32-bit caller of the attribute-flag ioctls, so the tests reach the
 * kernel's compat ioctl paths. Freestanding (there is no 32-bit libc on the
 * build machine): raw `int $0x80` system calls.
 *
 * Usage: compat32 PATH
 * Prints: get=R:FLAGS set=R get=R:FLAGS fsx=R:XFLAGS unknown=R
 * (R: the return value, a negative errno on failure).
 */

#define NR_exit 1
#define NR_write 4
#define NR_open 5
#define NR_ioctl 54

#define FS_IOC32_GETFLAGS 0x80046601
#define FS_IOC32_SETFLAGS 0x40046602
#define FS_IOC_FSGETXATTR 0x801c581f
#define FS_NOATIME_FL 0x80

static long sys3(long nr, long a, long b, long c)
{
	long r;

	asm volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}

static char out[256];
static int len;

static void put(const char *s)
{
	while (*s)
		out[len++] = *s++;
}

static void num(long v)
{
	char d[12];
	int n = 0;
	unsigned long u = v < 0 ? -v : v;

	if (v < 0)
		out[len++] = '-';
	do {
		d[n++] = '0' + u % 10;
		u /= 10;
	} while (u);
	while (n)
		out[len++] = d[--n];
}

__attribute__((force_align_arg_pointer, used)) void start_c(long *sp)
{
	char **argv = (char **)(sp + 1);
	unsigned int flags = 0, fsx[7] = { 0 };
	long fd, r;

	fd = sp[0] < 2 ? -22 : sys3(NR_open, (long)argv[1], 0, 0);
	if (fd < 0) {
		put("open=");
		num(fd);
	} else {
		r = sys3(NR_ioctl, fd, FS_IOC32_GETFLAGS, (long)&flags);
		put("get=");
		num(r);
		put(":");
		num(flags);
		flags |= FS_NOATIME_FL;
		r = sys3(NR_ioctl, fd, FS_IOC32_SETFLAGS, (long)&flags);
		put(" set=");
		num(r);
		flags = 0;
		r = sys3(NR_ioctl, fd, FS_IOC32_GETFLAGS, (long)&flags);
		put(" get=");
		num(r);
		put(":");
		num(flags);
		r = sys3(NR_ioctl, fd, FS_IOC_FSGETXATTR, (long)fsx);
		put(" fsx=");
		num(r);
		put(":");
		num(fsx[0]);
		r = sys3(NR_ioctl, fd, 0x5899, 0);
		put(" unknown=");
		num(r);
	}
	put("\n");
	sys3(NR_write, 1, (long)out, len);
	sys3(NR_exit, 0, 0, 0);
}

asm(".globl _start\n_start:\n\tpushl %esp\n\tcall start_c\n");
