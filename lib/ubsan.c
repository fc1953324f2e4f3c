// UBSan handlers shared by the kernel and user space: GCC's
// -fsanitize=undefined calls these; each formats the values GCC hands over
// and passes one report to ubsan_report(), which the kernel (kern/ubsan.c)
// and the user library (user/lib/ubsan.c) define: print, then panic or exit.
// The structures mirror what GCC passes (libsanitizer's ubsan_handlers.h).
// Never compiled with sanitizers itself (Makefile).
#include <stdarg.h>
#include "fmt.h"
#include "ubsan.h"

struct src_loc {
  const char *file;
  uint32 line, column;
};

// kind 0: integer (info bit 0: signed; info >> 1: log2 of the width in bits).
struct type_desc {
  uint16 kind, info;
  char name[];
};

struct type_mismatch_data {
  struct src_loc loc;
  struct type_desc *type;
  uint8 log_align, check_kind;
};
struct overflow_data {
  struct src_loc loc;
  struct type_desc *type;
};
struct shift_data {
  struct src_loc loc;
  struct type_desc *lhs_type, *rhs_type;
};
struct bounds_data {
  struct src_loc loc;
  struct type_desc *array_type, *index_type;
};
struct loc_data {
  struct src_loc loc;
};
struct nonnull_arg_data {
  struct src_loc loc, attr_loc;
  int arg_index;
};
struct invalid_builtin_data {
  struct src_loc loc;
  uint8 kind;
};

static int is_signed(const struct type_desc *t) { return t->kind == 0 && (t->info & 1); }
static int bits(const struct type_desc *t) { return t->kind == 0 ? 1 << (t->info >> 1) : 64; }

// A value GCC handed over: inline when it fits a pointer (all our types).
static void value_str(char *buf, int n, const struct type_desc *t, void *v)
{
  uint64 raw = (uint64)v;
  int w = bits(t);
  if (w > 64) {
    snprintf(buf, n, "<%d-bit value>", w);
  } else if (is_signed(t)) {
    int64 s = w == 64 ? (int64)raw : (int64)(raw << (64 - w)) >> (64 - w);
    snprintf(buf, n, "%ld", s);
  } else {
    snprintf(buf, n, "%lu", w == 64 ? raw : raw & ((1UL << w) - 1));
  }
}

static void report(const struct src_loc *loc, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(const struct src_loc *loc, const char *kind, const char *fmt, ...)
{
  char what[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  ubsan_report(loc->file, loc->line, loc->column, kind, what);
}

static const char *const check_names[] = {
  "load of", "store to", "reference binding to", "member access within", "member call on",
  "constructor call on", "downcast of", "downcast of", "upcast of", "cast to virtual base of",
  "nonnull binding to", "dynamic operation on",
};

void __ubsan_handle_type_mismatch_v1(struct type_mismatch_data *d, void *ptr)
{
  const char *op = d->check_kind < ARRAY_SIZE(check_names) ? check_names[d->check_kind] : "access to";
  uint64 align = 1UL << d->log_align;
  if (!ptr)
    report(&d->loc, "null pointer", "%s null pointer of type %s", op, d->type->name);
  else if ((uint64)ptr & (align - 1))
    report(&d->loc, "misaligned access", "%s address %p of type %s, which needs %lu-byte alignment", op,
           ptr, d->type->name, align);
  else
    report(&d->loc, "object too small", "%s address %p with too little space for type %s", op, ptr,
           d->type->name);
}

static void overflow(struct overflow_data *d, void *a, void *b, const char *op)
{
  char x[32], y[32];
  value_str(x, sizeof x, d->type, a);
  value_str(y, sizeof y, d->type, b);
  report(&d->loc, is_signed(d->type) ? "signed integer overflow" : "unsigned integer overflow",
         "%s %s %s cannot be represented in type %s", x, op, y, d->type->name);
}

void __ubsan_handle_add_overflow(struct overflow_data *d, void *a, void *b) { overflow(d, a, b, "+"); }
void __ubsan_handle_sub_overflow(struct overflow_data *d, void *a, void *b) { overflow(d, a, b, "-"); }
void __ubsan_handle_mul_overflow(struct overflow_data *d, void *a, void *b) { overflow(d, a, b, "*"); }

void __ubsan_handle_negate_overflow(struct overflow_data *d, void *a)
{
  char x[32];
  value_str(x, sizeof x, d->type, a);
  report(&d->loc, "signed integer overflow", "-(%s) cannot be represented in type %s", x, d->type->name);
}

void __ubsan_handle_divrem_overflow(struct overflow_data *d, void *a, void *b)
{
  char x[32], y[32];
  value_str(x, sizeof x, d->type, a);
  value_str(y, sizeof y, d->type, b);
  report(&d->loc, "division overflow", "%s / %s in type %s", x, y, d->type->name);
}

void __ubsan_handle_shift_out_of_bounds(struct shift_data *d, void *a, void *b)
{
  char x[32], y[32];
  value_str(x, sizeof x, d->lhs_type, a);
  value_str(y, sizeof y, d->rhs_type, b);
  report(&d->loc, "shift out of bounds", "%s << or >> %s with type %s", x, y, d->lhs_type->name);
}

void __ubsan_handle_out_of_bounds(struct bounds_data *d, void *index)
{
  char i[32];
  value_str(i, sizeof i, d->index_type, index);
  report(&d->loc, "index out of bounds", "index %s out of range for type %s", i, d->array_type->name);
}

void __ubsan_handle_load_invalid_value(struct overflow_data *d, void *v)
{
  char x[32];
  value_str(x, sizeof x, d->type, v);
  report(&d->loc, "invalid value", "load of value %s, not valid for type %s", x, d->type->name);
}

void __ubsan_handle_vla_bound_not_positive(struct overflow_data *d, void *v)
{
  char x[32];
  value_str(x, sizeof x, d->type, v);
  report(&d->loc, "vla bound not positive", "variable length array bound %s", x);
}

void __ubsan_handle_pointer_overflow(struct loc_data *d, void *base, void *result)
{
  report(&d->loc, "pointer overflow", "pointer arithmetic on %p gave %p", base, result);
}

void __ubsan_handle_nonnull_arg(struct nonnull_arg_data *d)
{
  report(&d->loc, "null argument", "null passed as argument %d, declared never null", d->arg_index);
}

void __ubsan_handle_invalid_builtin(struct invalid_builtin_data *d)
{
  report(&d->loc, "invalid builtin", "passing zero to %s", d->kind ? "clz()" : "ctz()");
}

void __ubsan_handle_builtin_unreachable(struct loc_data *d)
{
  report(&d->loc, "unreachable", "__builtin_unreachable() reached");
  ubsan_fatal("__builtin_unreachable() reached");
}

void __ubsan_handle_missing_return(struct loc_data *d)
{
  report(&d->loc, "missing return", "end of a non-void function reached");
  ubsan_fatal("missing return");
}
