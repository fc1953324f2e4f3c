// A small printf engine: %d %i %u %x %X %o %p %s %c %%, the l/ll/z length
// modifiers, a width, '0' and '-' flags. Shared by kernel and user space.
#include "fmt.h"

struct out {
  void (*putc)(int, void *);
  void *arg;
  int n;
};

static void emit(struct out *o, int c)
{
  o->putc(c, o->arg);
  o->n++;
}

static void pad(struct out *o, int count, int c)
{
  while (count-- > 0)
    emit(o, c);
}

// Formats an unsigned number into buf (reversed); returns its length.
static int utoa_rev(char *buf, uint64 v, int base, int upper)
{
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  int len = 0;
  do {
    buf[len++] = digits[v % base];
    v /= base;
  } while (v);
  return len;
}

static void put_number(struct out *o, uint64 v, int neg, int base, int upper, int width, int zero, int left)
{
  char buf[24];
  int len = utoa_rev(buf, v, base, upper);
  int total = len + neg;
  if (!left && !zero)
    pad(o, width - total, ' ');
  if (neg)
    emit(o, '-');
  if (!left && zero)
    pad(o, width - total, '0');
  while (len > 0)
    emit(o, buf[--len]);
  if (left)
    pad(o, width - total, ' ');
}

static void put_string(struct out *o, const char *s, int width, int left)
{
  int len = 0;
  if (!s)
    s = "(null)";
  while (s[len])
    len++;
  if (!left)
    pad(o, width - len, ' ');
  while (*s)
    emit(o, *s++);
  if (left)
    pad(o, width - len, ' ');
}

int vfmt(void (*putc)(int, void *), void *arg, const char *fmt, va_list ap)
{
  struct out o = {putc, arg, 0};
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      emit(&o, *fmt);
      continue;
    }
    int zero = 0, left = 0, width = 0, lng = 0;
    for (fmt++; *fmt == '0' || *fmt == '-'; fmt++)
      *fmt == '0' ? (zero = 1) : (left = 1);
    for (; *fmt >= '0' && *fmt <= '9'; fmt++)
      width = width * 10 + (*fmt - '0');
    for (; *fmt == 'l' || *fmt == 'z'; fmt++)
      lng++;
    switch (*fmt) {
    case 'd':
    case 'i': {
      int64 v = lng ? va_arg(ap, int64) : va_arg(ap, int);
      put_number(&o, v < 0 ? -(uint64)v : (uint64)v, v < 0, 10, 0, width, zero, left);
      break;
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      uint64 v = lng ? va_arg(ap, uint64) : va_arg(ap, uint32);
      int base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16;
      put_number(&o, v, 0, base, *fmt == 'X', width, zero, left);
      break;
    }
    case 'p':
      emit(&o, '0');
      emit(&o, 'x');
      put_number(&o, (uint64)va_arg(ap, void *), 0, 16, 0, width ? width : 16, 1, 0);
      break;
    case 's':
      put_string(&o, va_arg(ap, const char *), width, left);
      break;
    case 'c':
      emit(&o, va_arg(ap, int));
      break;
    case '%':
      emit(&o, '%');
      break;
    case 0:
      return o.n;
    default:
      emit(&o, '%');
      emit(&o, *fmt);
    }
  }
  return o.n;
}

struct strbuf {
  char *buf;
  size_t n, pos;
};

static void strbuf_putc(int c, void *arg)
{
  struct strbuf *s = arg;
  if (s->pos + 1 < s->n)
    s->buf[s->pos] = c;
  s->pos++;
}

int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
  struct strbuf s = {buf, n, 0};
  int len = vfmt(strbuf_putc, &s, fmt, ap);
  if (n)
    buf[s.pos < n ? s.pos : n - 1] = 0;
  return len;
}

int snprintf(char *buf, size_t n, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(buf, n, fmt, ap);
  va_end(ap);
  return len;
}
