/*
 * counters: the shared counter table and an in-process index over it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "counters.h"

#define TABLE_MAGIC 0x41505843u /* "APXC" */
#define INDEX_SIZE 8192         /* power of two, > COUNTERS_MAX */

#define CRASH_NOTE_MAX 64

struct counter_shm {
    uint32_t magic;
    uint32_t count;
    uint64_t created;
    char crash_note[CRASH_NOTE_MAX]; /* plugin running at the core's death */
    struct counter_slot slots[COUNTERS_MAX];
};

struct counter_table {
    struct counter_shm *shm;
    int16_t index[INDEX_SIZE];  /* open addressing: slot number, -1 empty */
};

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void index_insert(struct counter_table *t, uint32_t slot)
{
    uint32_t i = hash(t->shm->slots[slot].name) & (INDEX_SIZE - 1);
    while (t->index[i] >= 0)
        i = (i + 1) & (INDEX_SIZE - 1);
    t->index[i] = (int16_t)slot;
}

int counters_create_fd(void)
{
    int fd = memfd_create("anthropic-proxy-counters", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, sizeof(struct counter_shm)) < 0) {
        close(fd);
        return -1;
    }
    struct counter_shm *shm = mmap(NULL, sizeof *shm, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (shm == MAP_FAILED) {
        close(fd);
        return -1;
    }
    shm->magic = TABLE_MAGIC;
    shm->created = (uint64_t)time(NULL);
    munmap(shm, sizeof *shm);
    return fd;
}

struct counter_table *counters_open(int fd)
{
    struct counter_table *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    int flags = fd >= 0 ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS;
    t->shm = mmap(NULL, sizeof *t->shm, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (t->shm == MAP_FAILED) {
        free(t);
        return NULL;
    }
    if (fd < 0) {
        t->shm->magic = TABLE_MAGIC;
        t->shm->created = (uint64_t)time(NULL);
    }
    if (t->shm->magic != TABLE_MAGIC || t->shm->count > COUNTERS_MAX) {
        counters_close(t);
        return NULL;
    }
    memset(t->index, 0xff, sizeof t->index);
    for (uint32_t i = 0; i < t->shm->count; i++) {
        t->shm->slots[i].name[COUNTER_NAME_MAX - 1] = '\0'; /* a torn write */
        index_insert(t, i);
    }
    return t;
}

void counters_close(struct counter_table *t)
{
    if (!t)
        return;
    munmap(t->shm, sizeof *t->shm);
    free(t);
}

struct counter_slot *counters_get(struct counter_table *t, const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= COUNTER_NAME_MAX)
        return NULL;
    uint32_t i = hash(name) & (INDEX_SIZE - 1);
    for (; t->index[i] >= 0; i = (i + 1) & (INDEX_SIZE - 1))
        if (strcmp(t->shm->slots[t->index[i]].name, name) == 0)
            return &t->shm->slots[t->index[i]];
    if (t->shm->count >= COUNTERS_MAX)
        return NULL;
    uint32_t slot = t->shm->count;
    struct counter_slot *s = &t->shm->slots[slot];
    memcpy(s->name, name, len + 1);
    s->value = 0;
    t->shm->count = slot + 1; /* published after the name is complete */
    index_insert(t, slot);
    return s;
}

void counters_each(struct counter_table *t, const char *prefix,
                   void (*fn)(void *arg, const char *name, uint64_t value), void *arg)
{
    size_t plen = strlen(prefix);
    for (uint32_t i = 0; i < t->shm->count; i++)
        if (strncmp(t->shm->slots[i].name, prefix, plen) == 0)
            fn(arg, t->shm->slots[i].name, t->shm->slots[i].value);
}

void counters_set_crash_note(struct counter_table *t, const char *plugin)
{
    if (!t)
        return;
    size_t i = 0;
    for (; plugin && plugin[i] && i + 1 < CRASH_NOTE_MAX; i++)
        t->shm->crash_note[i] = plugin[i];
    t->shm->crash_note[i] = '\0';
}

void counters_take_crash_note(int fd, char *out, size_t size)
{
    out[0] = '\0';
    struct counter_shm *shm = mmap(NULL, sizeof *shm, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (shm == MAP_FAILED)
        return;
    if (shm->magic == TABLE_MAGIC && size > 0) {
        size_t n = strnlen(shm->crash_note, CRASH_NOTE_MAX - 1);
        n = n < size - 1 ? n : size - 1;
        memcpy(out, shm->crash_note, n);
        out[n] = '\0';
        shm->crash_note[0] = '\0';
    }
    munmap(shm, sizeof *shm);
}

uint64_t counters_created(const struct counter_table *t)
{
    return t->shm->created;
}
