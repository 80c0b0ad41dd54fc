/*
 * Corpus replayer: runs a libFuzzer entry point over every file of a
 * folder (or over the files named), so ctest replays each seed corpus
 * under gcc and the sanitizers without libFuzzer (cJSON's fuzz_main idea).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    long len;
    int rc = 1;

    if (f == NULL) {
        perror(path);
        return 1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    data = malloc((size_t)len + 1);
    if (data == NULL)
        goto out;
    if (len > 0 && fread(data, 1, (size_t)len, f) != (size_t)len)
        goto out;
    LLVMFuzzerTestOneInput(data, (size_t)len);
    rc = 0;
out:
    free(data);
    fclose(f);
    return rc;
}

int
main(int argc, char **argv)
{
    int i, n = 0, failed = 0;

    for (i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            struct dirent **names;
            int k, count = scandir(argv[i], &names, NULL, alphasort);
            if (count < 0) {
                perror(argv[i]);
                return 1;
            }
            for (k = 0; k < count; k++) {
                char path[4096];
                if (names[k]->d_name[0] != '.' &&
                    (size_t)snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]->d_name) <
                        sizeof(path)) {
                    failed += replay_file(path);
                    n++;
                }
                free(names[k]);
            }
            free(names);
        } else {
            failed += replay_file(argv[i]);
            n++;
        }
    }
    printf("replayed %d inputs, %d unreadable\n", n, failed);
    return (n == 0 || failed) ? 1 : 0;
}
