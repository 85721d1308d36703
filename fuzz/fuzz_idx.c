/* fuzz_idx.c - IDX image and label files (plain or gzip).  The loader reads
 * only files, so the input is split into two in-memory files: its first 4
 * bytes (little-endian) give the length of the images file, the rest after
 * it is the labels file. */
#define _GNU_SOURCE /* memfd_create */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "diffguard.h"
#include "fuzz.h"

/* An anonymous in-memory file holding data; its path goes into path. */
static int memory_file(const uint8_t *data, size_t size, char *path,
                       size_t path_size)
{
    int fd = memfd_create("dg-fuzz-idx", MFD_CLOEXEC);
    if (fd < 0) abort();
    if (size && write(fd, data, size) != (ssize_t)size) abort();
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    size_t images_len = (size_t)data[0] | (size_t)data[1] << 8 |
                        (size_t)data[2] << 16 | (size_t)data[3] << 24;
    data += 4;
    size -= 4;
    if (images_len > size) images_len = size;
    char images_path[64], labels_path[64];
    int images = memory_file(data, images_len, images_path,
                             sizeof images_path);
    int labels = memory_file(data + images_len, size - images_len,
                             labels_path, sizeof labels_path);
    dg_dataset *ds;
    if (dg_dataset_load_idx(images_path, labels_path, &ds) == DG_OK)
        dg_dataset_free(ds);
    close(images);
    close(labels);
    return 0;
}
