/*-------------------------------------------------------------------------
 * test/fuzz/driver.c
 *	  A main() for the fuzz targets without libFuzzer: runs the target once
 *	  on every file named (directories: every file in them), so that the
 *	  corpus replays under valgrind or a gcc sanitizer build.  Exit 0 when
 *	  every input ran; a failed property aborts.
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stdint.h>

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int	runs = 0;

static void
run_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	long		len;
	uint8_t    *buf;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		perror(path);
		exit(2);
	}
	/* exactly len bytes (malloc(0) may be NULL): reads past the input show */
	buf = malloc(len ? len : 1);
	if (buf == NULL || (len > 0 && fread(buf, 1, len, f) != (size_t) len))
	{
		perror(path);
		exit(2);
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	runs++;
}

static void
run_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
	{
		perror(path);
		exit(2);
	}
	if (S_ISDIR(st.st_mode))
	{
		struct dirent **names;
		int			n = scandir(path, &names, NULL, alphasort);
		int			i;

		if (n < 0)
		{
			perror(path);
			exit(2);
		}
		for (i = 0; i < n; i++)
		{
			if (names[i]->d_name[0] != '.')
			{
				char	   *p = malloc(strlen(path) + strlen(names[i]->d_name) + 2);

				sprintf(p, "%s/%s", path, names[i]->d_name);
				run_path(p);
				free(p);
			}
			free(names[i]);
		}
		free(names);
	}
	else
		run_file(path);
}

int
main(int argc, char **argv)
{
	int			i;

	for (i = 1; i < argc; i++)
		run_path(argv[i]);
	printf("%d inputs\n", runs);
	return 0;
}
