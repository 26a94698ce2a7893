/* Fault injection for the atomic-write tests: LD_PRELOAD this library and set
 *   QS_FAULT=CALL:N:WHAT[,CALL:N:WHAT...]
 * to make the Nth call of CALL fail. CALL is write, pwrite, copy_file_range, fsync,
 * close, rename, renameat or malloc; WHAT an errno name (ENOSPC, EIO, EDQUOT, ENOMEM,
 * ...) or "short" (write/pwrite write half of what was asked, at least one byte, and
 * return that: not an error, a caller must carry on). malloc ignores WHAT and returns
 * NULL (operator new then throws std::bad_alloc).
 *
 * Which calls count: write, pwrite, copy_file_range (its output) and close only on
 * regular files open for writing (not the terminal, pipes or files only read), so
 * that N points into the output however much is printed; fsync, rename, renameat and
 * malloc every call.
 *
 * Every injection is reported on stderr ("qs_fault: injected ...") and, with
 * QS_FAULT_LOG=FILE, appended to FILE; at exit the call counts are appended there too
 * ("count CALL N"), so that a test can choose N within what a command does. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { C_WRITE, C_PWRITE, C_COPY, C_FSYNC, C_CLOSE, C_RENAME, C_RENAMEAT, C_MALLOC, C_COUNT };
static const char* const names[C_COUNT] = {"write", "pwrite", "copy_file_range", "fsync",
                                           "close", "rename", "renameat", "malloc"};

#define MAX_FAULTS 8
struct fault {
    int call;
    long nth;
    int err; /* 0 = short write */
};
static struct fault faults[MAX_FAULTS];
static int nfaults;
static long counts[C_COUNT];
static char log_path[4096];

extern void* __libc_malloc(size_t size);

static int errno_of(const char* s) {
    static const struct { const char* name; int value; } table[] = {
        {"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EDQUOT", EDQUOT}, {"ENOMEM", ENOMEM}, {"EPERM", EPERM},
        {"EACCES", EACCES}, {"EROFS", EROFS}, {"EXDEV", EXDEV}, {"EFBIG", EFBIG}, {"EINTR", EINTR}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; ++i)
        if (strcmp(s, table[i].name) == 0) return table[i].value;
    return strcmp(s, "short") == 0 ? 0 : EIO;
}

/* Reports without stdio or malloc (may run inside malloc or write). */
static void report(const char* text) {
    syscall(SYS_write, 2, text, strlen(text));
    if (!log_path[0]) return;
    int fd = (int)syscall(SYS_open, log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    syscall(SYS_write, fd, text, strlen(text));
    syscall(SYS_close, fd);
}

__attribute__((constructor)) static void init(void) {
    const char* log = getenv("QS_FAULT_LOG");
    if (log) snprintf(log_path, sizeof log_path, "%s", log);
    const char* spec = getenv("QS_FAULT");
    if (!spec) return;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char* save = NULL, *item = strtok_r(buf, ",", &save); item && nfaults < MAX_FAULTS;
         item = strtok_r(NULL, ",", &save)) {
        char call[32], what[32] = "EIO";
        long nth = 0;
        if (sscanf(item, "%31[^:]:%ld:%31s", call, &nth, what) < 2) continue;
        for (int c = 0; c < C_COUNT; ++c)
            if (strcmp(call, names[c]) == 0) faults[nfaults++] = (struct fault){c, nth, errno_of(what)};
    }
}

__attribute__((destructor)) static void fini(void) {
    char line[64];
    if (!log_path[0]) return;
    for (int c = 0; c < C_COUNT; ++c) {
        snprintf(line, sizeof line, "count %s %ld\n", names[c], __atomic_load_n(&counts[c], __ATOMIC_SEQ_CST));
        int fd = (int)syscall(SYS_open, log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) return;
        syscall(SYS_write, fd, line, strlen(line));
        syscall(SYS_close, fd);
    }
}

/* Counts a call; returns the fault to inject (NULL: none). */
static const struct fault* tick(int call) {
    const long n = __atomic_add_fetch(&counts[call], 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < nfaults; ++i)
        if (faults[i].call == call && faults[i].nth == n) {
            char text[128];
            snprintf(text, sizeof text, "qs_fault: injected %s #%ld %s\n", names[call], n,
                     faults[i].err ? strerrorname_np(faults[i].err) : "short");
            report(text);
            return &faults[i];
        }
    return NULL;
}

static int is_output(int fd) {
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_ACCMODE) != O_RDONLY && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

#define REAL(type, name, args) \
    static type(*real) args;   \
    if (!real) real = (type(*) args)dlsym(RTLD_NEXT, name)

ssize_t write(int fd, const void* buf, size_t n) {
    REAL(ssize_t, "write", (int, const void*, size_t));
    const struct fault* f = is_output(fd) ? tick(C_WRITE) : NULL;
    if (f && f->err) return errno = f->err, -1;
    if (f && n > 1) n /= 2;
    return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
    REAL(ssize_t, "pwrite", (int, const void*, size_t, off_t));
    const struct fault* f = is_output(fd) ? tick(C_PWRITE) : NULL;
    if (f && f->err) return errno = f->err, -1;
    if (f && n > 1) n /= 2;
    return real(fd, buf, n, offset);
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) { return pwrite(fd, buf, n, offset); }

ssize_t copy_file_range(int in, off_t* in_off, int out, off_t* out_off, size_t n, unsigned flags) {
    REAL(ssize_t, "copy_file_range", (int, off_t*, int, off_t*, size_t, unsigned));
    const struct fault* f = is_output(out) ? tick(C_COPY) : NULL;
    if (f && f->err) return errno = f->err, -1;
    if (f && n > 1) n /= 2;
    return real(in, in_off, out, out_off, n, flags);
}

int fsync(int fd) {
    REAL(int, "fsync", (int));
    const struct fault* f = tick(C_FSYNC);
    if (f) return errno = f->err ? f->err : EIO, -1;
    return real(fd);
}

int close(int fd) {
    REAL(int, "close", (int));
    const struct fault* f = is_output(fd) ? tick(C_CLOSE) : NULL;
    int rc = real(fd);  /* a failing close(2) still closes the descriptor */
    if (f) return errno = f->err ? f->err : EIO, -1;
    return rc;
}

int rename(const char* from, const char* to) {
    REAL(int, "rename", (const char*, const char*));
    const struct fault* f = tick(C_RENAME);
    if (f) return errno = f->err ? f->err : EIO, -1;
    return real(from, to);
}

int renameat(int fromdir, const char* from, int todir, const char* to) {
    REAL(int, "renameat", (int, const char*, int, const char*));
    const struct fault* f = tick(C_RENAMEAT);
    if (f) return errno = f->err ? f->err : EIO, -1;
    return real(fromdir, from, todir, to);
}

void* malloc(size_t size) {
    if (tick(C_MALLOC)) return errno = ENOMEM, NULL;
    return __libc_malloc(size);
}
