// Error codes returned (negated) by system calls; shared with user space.
#pragma once
#define EPERM 1     // not allowed
#define ENOENT 2    // no such file
#define ESRCH 3     // no such process / VM / vcpu
#define EINTR 4
#define EIO 5
#define E2BIG 7     // argument list too long
#define ENOEXEC 8   // not a valid executable / guest image
#define EBADF 9     // bad file descriptor or handle
#define ECHILD 10   // no children to wait for
#define EAGAIN 11
#define ENOMEM 12   // out of memory
#define EFAULT 14   // bad user pointer
#define EBUSY 16    // in use (e.g. a vcpu running elsewhere)
#define EEXIST 17
#define EINVAL 22   // invalid argument
#define EMFILE 24   // too many open files
#define ENOSPC 28
#define ERANGE 34
#define ENOSYS 38   // no such system call / feature not implemented
#define ETIMEDOUT 110   // futex_wait's timeout passed
#define ENODEV 19   // hardware missing (e.g. no SVM)
