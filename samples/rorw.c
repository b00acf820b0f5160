// SPDX-License-Identifier: GPL-2.0
/*
 * ro/rw consistency on an overlay mount, in a few lines.
 *
 * A file that is only on a lower layer is opened read-only and mapped
 * shared; then another descriptor opens it for writing, which copies it
 * up, and writes new data. A reader keeps the descriptor and the mapping it
 * had: does it see the new data?
 *
 * Usage: rorw FILE   (FILE on the merged view, still only on a lower layer)
 * Exit status 0 when both read(2) and the mapping see the new data.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static const char new_data[] = "written after copy-up";
	char buf[64] = "";
	const char *map;
	int ro, rw, ok = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	ro = open(argv[1], O_RDONLY);
	if (ro < 0) {
		perror(argv[1]);
		return 2;
	}
	map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
	if (map == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	printf("before:       %.*s\n", (int)strcspn(map, "\n"), map);

	rw = open(argv[1], O_WRONLY); /* copies the file up */
	if (rw < 0 || pwrite(rw, new_data, sizeof(new_data), 0) != sizeof(new_data)) {
		perror("write");
		return 2;
	}
	close(rw);

	if (pread(ro, buf, sizeof(buf) - 1, 0) < 0) {
		perror("pread");
		return 2;
	}
	printf("read(2):      %s (%s)\n", buf, strcmp(buf, new_data) ? "stale" : "new");
	ok &= !strcmp(buf, new_data);
	printf("mmap(SHARED): %.*s (%s)\n", (int)strlen(new_data), map,
	       memcmp(map, new_data, sizeof(new_data)) ? "stale" : "new");
	ok &= !memcmp(map, new_data, sizeof(new_data));
	return ok ? 0 : 1;
}
