// Formatted output for user programs on top of lib/fmt.c's vfmt: text is
// collected in a buffer and written when a line is complete, so lines
// from different processes do not interleave.
#include "user.h"

struct outbuf {
  int fd;
  int len;
  char buf[256];
};

static void flush(struct outbuf *o)
{
  if (o->len > 0)
    write(o->fd, o->buf, o->len);
  o->len = 0;
}

static void bufputc(int c, void *arg)
{
  struct outbuf *o = arg;
  o->buf[o->len++] = c;
  if (c == '\n' || o->len == (int)sizeof o->buf)
    flush(o);
}

int vfprintf(int fd, const char *fmt, va_list ap)
{
  struct outbuf o = {fd, 0, {0}};
  int n = vfmt(bufputc, &o, fmt, ap);
  flush(&o);
  return n;
}

int fprintf(int fd, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vfprintf(fd, fmt, ap);
  va_end(ap);
  return n;
}

int printf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vfprintf(1, fmt, ap);
  va_end(ap);
  return n;
}

const char *errstr(long err)
{
  static const char *names[] = {
    [EPERM] = "EPERM",   [ENOENT] = "ENOENT", [ESRCH] = "ESRCH",   [EINTR] = "EINTR",
    [EIO] = "EIO",       [E2BIG] = "E2BIG",   [ENOEXEC] = "ENOEXEC", [EBADF] = "EBADF",
    [ECHILD] = "ECHILD", [EAGAIN] = "EAGAIN", [ENOMEM] = "ENOMEM", [EFAULT] = "EFAULT",
    [EBUSY] = "EBUSY",   [EEXIST] = "EEXIST", [ENODEV] = "ENODEV", [EINVAL] = "EINVAL",
    [EMFILE] = "EMFILE", [ENOSPC] = "ENOSPC", [ERANGE] = "ERANGE", [ENOSYS] = "ENOSYS",
    [ETIMEDOUT] = "ETIMEDOUT",
  };
  if (err >= 0)
    return "ok";
  if (-err < (long)ARRAY_SIZE(names) && names[-err])
    return names[-err];
  return "E?";
}
