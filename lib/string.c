// String and memory functions shared by the kernel and user space.
#include "string.h"

// Word-sized stores and copies for the aligned middle: zeroing or poisoning
// a page is the kernel's hottest loop, and under QEMU's TCG (and in the
// UBSan build, which checks every pointer step) a byte loop is 8x the work.
typedef uint64 __attribute__((may_alias)) word_t;

void *memset(void *dst, int c, size_t n)
{
  uint8 *d = dst;
  for (; n && ((uint64)d & 7); n--)
    *d++ = c;
  word_t w = 0x0101010101010101UL * (uint8)c;
  for (; n >= 8; n -= 8, d += 8)
    *(word_t *)d = w;
  while (n--)
    *d++ = c;
  return dst;
}

void *memcpy(void *dst, const void *src, size_t n) { return memmove(dst, src, n); }

void *memmove(void *dst, const void *src, size_t n)
{
  uint8 *d = dst;
  const uint8 *s = src;
  if (s < d && s + n > d) {
    while (n--)
      d[n] = s[n];
    return dst;
  }
  if ((((uint64)d ^ (uint64)s) & 7) == 0) {
    for (; n && ((uint64)d & 7); n--)
      *d++ = *s++;
    for (; n >= 8; n -= 8, d += 8, s += 8)
      *(word_t *)d = *(const word_t *)s;
  }
  while (n--)
    *d++ = *s++;
  return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
  const uint8 *x = a, *y = b;
  for (; n--; x++, y++)
    if (*x != *y)
      return *x - *y;
  return 0;
}

size_t strlen(const char *s)
{
  size_t n = 0;
  while (s[n])
    n++;
  return n;
}

size_t strnlen(const char *s, size_t max)
{
  size_t n = 0;
  while (n < max && s[n])
    n++;
  return n;
}

int strcmp(const char *a, const char *b)
{
  while (*a && *a == *b)
    a++, b++;
  return (uint8)*a - (uint8)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
  for (; n && *a && *a == *b; n--)
    a++, b++;
  return n ? (uint8)*a - (uint8)*b : 0;
}

char *strcpy(char *dst, const char *src)
{
  char *d = dst;
  while ((*d++ = *src++))
    ;
  return dst;
}

char *strncpy(char *dst, const char *src, size_t n)
{
  size_t i = 0;
  for (; i < n && src[i]; i++)
    dst[i] = src[i];
  for (; i < n; i++)
    dst[i] = 0;
  return dst;
}

// Copies at most n-1 bytes and always terminates; returns strlen(src).
size_t strlcpy(char *dst, const char *src, size_t n)
{
  size_t len = strlen(src);
  if (n) {
    size_t c = len < n - 1 ? len : n - 1;
    memcpy(dst, src, c);
    dst[c] = 0;
  }
  return len;
}

char *strchr(const char *s, int c)
{
  for (; *s; s++)
    if (*s == (char)c)
      return (char *)s;
  return c ? NULL : (char *)s;
}

char *strstr(const char *hay, const char *needle)
{
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncmp(hay, needle, n) == 0)
      return (char *)hay;
  return n ? NULL : (char *)hay;
}

static int digit_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z')
    return c - 'A' + 10;
  return 99;
}

unsigned long strtoul(const char *s, char **end, int base)
{
  unsigned long v = 0;
  while (*s == ' ')
    s++;
  if ((base == 0 || base == 16) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    s += 2, base = 16;
  if (base == 0)
    base = 10;
  for (; digit_value(*s) < base; s++)
    v = v * base + digit_value(*s);
  if (end)
    *end = (char *)s;
  return v;
}

long strtol(const char *s, char **end, int base)
{
  while (*s == ' ')
    s++;
  if (*s == '-')
    return -(long)strtoul(s + 1, end, base);
  return (long)strtoul(s, end, base);
}
